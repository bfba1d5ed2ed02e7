/**
 * Which clients verify the server under each sslmode, with URLs built exactly as the rotation function
 * builds them (core/url-settings.ts), against the local DSQL endpoint (real TLS, real PostgreSQL behind it).
 *
 * The endpoint's certificate comes from a throwaway CA. Real DSQL chains to public roots that every trust
 * store holds; here that CA is put into the client's store without touching the URL: NODE_EXTRA_CA_CERTS for
 * node-postgres, PGSSLROOTCERT (libpq's root store) for psql. An impostor, a TLS server whose certificate a
 * trusted CA issued for another host name, shows host-name verification.
 *
 * psql here is 15: `sslrootcert=system` needs libpq 16; the test checks what the installed version does.
 * Prisma's adapter-pg is not installed: it hands the URL to node-postgres (pg-connection-string), tested here.
 */
import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as tls from 'tls';
import { DsqlSigner } from '@aws-sdk/dsql-signer';
import { connectionUrl } from '../../core/url-settings';
import { UrlParameters } from '../../lib';
import { LocalDsqlEndpoint, startLocalDsqlEndpoint } from '../support/local-dsql-endpoint';
import { PostgresServer, startPostgres } from '../support/postgres-server';
import { generateTlsCert, TlsCert } from '../support/tls-cert';

const REGION = 'us-east-1';
const KEY = { accessKeyId: 'AKIATLSMODESEXAMPLE1', secretAccessKey: 'tls-modes-secret-EXAMPLE' };
const PSQL_MAJOR = Number(/\b(\d+)\.\d+/.exec(execFileSync('psql', ['--version']).toString())?.[1]);

/** A TLS server that answers PostgreSQL's SSLRequest with 'S', presents `cert`, and closes once TLS is up: it never speaks PostgreSQL. */
async function startImpostor(cert: TlsCert): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.write('S');
      const secure = new tls.TLSSocket(socket, { isServer: true, key: cert.keyPem, cert: cert.certPem });
      secure.on('error', () => undefined);
      secure.on('secure', () => secure.end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const stop = () => new Promise<void>((resolve) => (sockets.forEach((s) => s.destroy()), server.close(() => resolve())));
  return { port, stop };
}

/** What a client run reported: connected (and the server's answer), or the driver's error. stderr carries pg's warnings. */
interface Outcome {
  ok: boolean;
  message: string;
  stderr: string;
}

// node-postgres in a child process: NODE_EXTRA_CA_CERTS is read at start, and the URL goes in through the environment.
// The Client constructor parses the URL (and reads sslrootcert's file), so it is inside the try too.
const PG_SCRIPT = `
const { Client } = require(process.env.PG_MODULE);
(async () => {
  try {
    const client = new Client({ connectionString: process.env.TEST_URL, connectionTimeoutMillis: 10000 });
    client.on('error', () => undefined);
    await client.connect();
    const r = await client.query('SELECT current_user AS u');
    await client.end();
    console.log(JSON.stringify({ ok: true, message: r.rows[0].u }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, message: (e.code ? e.code + ': ' : '') + e.message }));
  }
})();
`;

describe('TLS: which clients verify under each sslmode', () => {
  let pg: PostgresServer;
  let ep: LocalDsqlEndpoint;
  let otherName: TlsCert;
  let impostor: { port: number; stop(): Promise<void> };
  let workDir: string;
  const tokens: string[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
    ep = await startLocalDsqlEndpoint({
      region: REGION,
      backend: pg,
      credentials: (akid) => (akid === KEY.accessKeyId ? { secretAccessKey: KEY.secretAccessKey } : undefined),
      identities: () => 'arn:aws:iam::123456789012:user/tls-modes',
    });
    otherName = await generateTlsCert({ hosts: ['db.other.example'] });
    impostor = await startImpostor(otherName);
    // No file named "system" here: a client that reads sslrootcert=system as a path must find nothing.
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-modes-'));
  });
  afterAll(async () => {
    await impostor?.stop();
    otherName?.remove();
    await ep?.stop();
    await pg?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  async function url(params: Record<string, string>, port = ep.port): Promise<string> {
    const signer = new DsqlSigner({ hostname: ep.host, region: REGION, credentials: KEY, expiresIn: 900 });
    const token = await signer.getDbConnectAdminAuthToken();
    tokens.push(token);
    const urlQuery = new URLSearchParams(params).toString();
    return connectionUrl({ host: ep.host, port, database: 'postgres', username: 'admin', urlQuery }, token);
  }

  /** Never lets a token into a test's output. */
  function redact(text: string): string {
    return tokens.reduce((t, tok) => t.split(tok).join('<token>').split(encodeURIComponent(tok)).join('<token>'), text);
  }

  function nodePostgres(connectionString: string, trustedCaFile?: string): Promise<Outcome> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PG_MODULE: require.resolve('pg'),
      TEST_URL: connectionString,
    };
    if (trustedCaFile) env.NODE_EXTRA_CA_CERTS = trustedCaFile;
    return new Promise((resolve) => {
      execFile(process.execPath, ['-e', PG_SCRIPT], { env, cwd: workDir, timeout: 30_000 }, (err, stdout, stderr) => {
        const line = String(stdout).trim().split('\n').pop() ?? '';
        const parsed = line.startsWith('{') ? (JSON.parse(line) as Omit<Outcome, 'stderr'>) : { ok: false, message: `exit ${err?.code}` };
        resolve({ ok: parsed.ok, message: redact(parsed.message), stderr: redact(String(stderr)) });
      });
    });
  }

  function psql(connectionString: string, env: Record<string, string> = {}): Promise<Outcome> {
    const base = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PGCONNECT_TIMEOUT: '10',
      PGPASSFILE: '/nonexistent/pgpass',
      // No ~/.postgresql/root.crt of the developer's: only what each case sets.
      PGSSLROOTCERT: '/nonexistent/root.crt',
      HOME: workDir,
    };
    return new Promise((resolve) => {
      execFile(
        'psql',
        [connectionString, '-X', '-At', '-c', 'SELECT current_user'],
        { env: { ...base, ...env }, cwd: workDir, timeout: 30_000 },
        (err, stdout, stderr) =>
          resolve({ ok: !err, message: redact(err ? String(stderr).trim() : String(stdout).trim()), stderr: redact(String(stderr)) }),
      );
    });
  }

  test('the preset is sslmode=verify-full and nothing else, and refuses an sslmode of its own', () => {
    expect(UrlParameters.verifyFull()).toEqual({ sslmode: 'verify-full' });
    expect(UrlParameters.verifyFull({ application_name: 'api' })).toEqual({ sslmode: 'verify-full', application_name: 'api' });
    expect(() => UrlParameters.verifyFull({ sslmode: 'require' })).toThrow(/extra sets sslmode='require'.*remove sslmode from extra/);
  });

  describe('node-postgres (and Prisma adapter-pg, which hands it the URL)', () => {
    test('verify-full preset: connects when the CA is in its trust store, without a warning', async () => {
      const r = await nodePostgres(await url(UrlParameters.verifyFull()), ep.caFile);
      expect(r).toEqual({ ok: true, message: 'admin', stderr: '' });
    });

    test('verify-full preset: refuses a certificate from an unknown CA, and one for another host name', async () => {
      const unknownCa = await nodePostgres(await url(UrlParameters.verifyFull()));
      expect(unknownCa.ok).toBe(false);
      expect(unknownCa.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|self[- ]signed certificate/);
      // The impostor's CA is trusted, but its certificate names db.other.example, not the URL's host.
      const wrongName = await nodePostgres(await url(UrlParameters.verifyFull(), impostor.port), otherName.caFile);
      expect(wrongName.ok).toBe(false);
      expect(wrongName.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/);
    });

    test('require (the default): verifies just as fully, and prints a SECURITY WARNING', async () => {
      const trusted = await nodePostgres(await url({ sslmode: 'require' }), ep.caFile);
      expect(trusted).toMatchObject({ ok: true, message: 'admin' });
      expect(trusted.stderr).toMatch(/SECURITY WARNING/);
      expect((await nodePostgres(await url({ sslmode: 'require' }), otherName.caFile)).ok).toBe(false);
    });

    test('require with uselibpqcompat=true: encrypts only, so it connects to a server it cannot verify', async () => {
      const r = await nodePostgres(await url({ sslmode: 'require', uselibpqcompat: 'true' }, impostor.port), otherName.caFile);
      // It got past TLS to the impostor, which then closed the connection: no certificate error.
      expect(r.ok).toBe(false);
      expect(r.message).toMatch(/Connection terminated unexpectedly/);
    });

    test("sslrootcert=system breaks it: pg-connection-string opens a file named 'system'", async () => {
      const r = await nodePostgres(await url({ sslmode: 'verify-full', sslrootcert: 'system' }), ep.caFile);
      expect(r.ok).toBe(false);
      expect(r.message).toMatch(/ENOENT.*'system'/);
    });
  });

  describe(`psql (libpq ${PSQL_MAJOR})`, () => {
    test('verify-full preset: refuses to connect without a root store, connects with one (PGSSLROOTCERT)', async () => {
      const none = await psql(await url(UrlParameters.verifyFull()));
      expect(none.ok).toBe(false);
      expect(none.message).toMatch(/root certificate file "\/nonexistent\/root.crt" does not exist/);
      // With libpq 16+ PGSSLROOTCERT=system selects the system's roots; a CA file stands in for them here.
      const trusted = await psql(await url(UrlParameters.verifyFull()), { PGSSLROOTCERT: ep.caFile });
      expect(trusted).toMatchObject({ ok: true, message: 'admin' });
    });

    test('verify-full preset: refuses a trusted CA certificate issued for another host name', async () => {
      const r = await psql(await url(UrlParameters.verifyFull(), impostor.port), { PGSSLROOTCERT: otherName.caFile });
      expect(r.ok).toBe(false);
      expect(r.message).toMatch(/server certificate for "db\.other\.example" .*does not match host name "localhost"/);
    });

    test('require (the default): encrypts only, so it connects to a server whose certificate it never checks', async () => {
      expect(await psql(await url({ sslmode: 'require' }))).toMatchObject({ ok: true, message: 'admin' });
      // Against the impostor it gets past TLS (the impostor then closes): no certificate error.
      const r = await psql(await url({ sslmode: 'require' }, impostor.port));
      expect(r.ok).toBe(false);
      expect(r.message).toMatch(/SSL connection has been closed unexpectedly/);
      expect(r.message).not.toMatch(/certificate/i);
    });

    test('sslrootcert=system: libpq 16+ uses the system roots (OpenSSL honours SSL_CERT_FILE); older libpq opens a file "system"', async () => {
      const r = await psql(await url({ sslmode: 'verify-full', sslrootcert: 'system' }), { SSL_CERT_FILE: ep.caFile });
      if (PSQL_MAJOR >= 16) {
        expect(r).toMatchObject({ ok: true, message: 'admin' });
      } else {
        expect(r.ok).toBe(false);
        expect(r.message).toMatch(/could not read root certificate file "system"|root certificate file "system" does not exist/);
      }
    });
  });
});
