/**
 * Real database clients, used the way an application would use the secret's `url`.
 *
 * node-postgres 8 (pg-connection-string 2) reads `sslmode=require` in a URL as verify-full: it checks
 * the certificate chain against Node's trusted roots and the host name. Real DSQL chains to public
 * roots; the local endpoint's certificate comes from a throwaway CA, so the URL needs
 * `sslrootcert=<ca file>` (pg reads the file into `ssl.ca`). A `ssl` option passed next to
 * `connectionString` does not help: pg lets the URL's parsed `ssl` object replace it.
 *
 * libpq (psql) reads `sslmode=require` as "encrypt, verify nothing", except that it behaves like
 * verify-ca when a root certificate file exists (PGSSLROOTCERT or ~/.postgresql/root.crt).
 *
 * Nothing here ever prints a URL or a token: errors carry the driver's or psql's message only.
 */
import { execFile } from 'child_process';
import { Client } from 'pg';

/** The secret's URL plus the local CA, so pg's verify-full succeeds against the local endpoint. */
export function withLocalCa(url: string, caFile: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}sslrootcert=${encodeURIComponent(caFile)}`;
}

/** Connects with the URL (as a connection string, nothing else), runs `fn`, always disconnects. */
export async function withPg<T>(url: string, caFile: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: withLocalCa(url, caFile), connectionTimeoutMillis: 15_000 });
  client.on('error', () => undefined); // a late socket error must not crash the test process
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Connects with node-postgres and returns `SELECT 1`'s value (throws if the endpoint refuses). */
export async function pgSelectOne(url: string, caFile: string): Promise<number> {
  return withPg(url, caFile, async (c) => (await c.query<{ one: number }>('SELECT 1 AS one')).rows[0].one);
}

export interface PsqlOptions {
  /** Sets PGSSLROOTCERT: libpq then verifies the chain even with sslmode=require. */
  readonly rootCertFile?: string;
}

/**
 * `psql "$URL" -X -A -t -c <sql>` in a child process, asynchronously: a synchronous call would block
 * this process's event loop, which also runs the local endpoint psql talks to. Returns stdout trimmed.
 */
export function psql(url: string, sql: string, opts: PsqlOptions = {}): Promise<string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    PGCONNECT_TIMEOUT: '15',
    // No ~/.pgpass, service file or root.crt of the developer's: only what the URL says.
    PGPASSFILE: '/nonexistent/pgpass',
    PGSERVICEFILE: '/nonexistent/pg_service.conf',
    PGSSLROOTCERT: opts.rootCertFile ?? '/nonexistent/root.crt',
  };
  return new Promise((resolve, reject) => {
    execFile('psql', [url, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) {
        // Not `err.message`: it repeats the command line, URL included.
        const how = (err as { code?: unknown }).code ?? (err as { signal?: unknown }).signal;
        reject(new Error(`psql failed (${String(how)}): ${String(stderr).trim()}`));
      } else {
        resolve(String(stdout).trim());
      }
    });
  });
}

/** The query parameters of a DSQL token (`<host>/?Action=…&X-Amz-…`), decoded. */
export function tokenParams(token: string): { host: string; params: URLSearchParams } {
  const sep = token.indexOf('/?');
  if (sep <= 0) throw new Error('not a DSQL token: expected <host>/?<query>');
  return { host: token.slice(0, sep), params: new URLSearchParams(token.slice(sep + 2)) };
}
