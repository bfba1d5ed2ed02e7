/**
 * Real database clients run against the URL from the secret, each in its own process like an app task.
 *
 * Both run asynchronously: the DSQL-style endpoint is served by this very process, so a synchronous
 * child_process call would block it and the client would hang. Command lines and environments hold
 * the token: they are never printed.
 */
import { spawn } from 'child_process';
import * as path from 'path';

export const SQL = 'select current_user, now(), version()';

export interface QueryRow {
  user: string;
  now: string;
  version: string;
}

export type QueryOutcome = { ok: true; row: QueryRow; warnings: string[] } | { ok: false; message: string };

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  spawnError?: string;
}

function run(cmd: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: path.join(__dirname, '..') });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let spawnError: string | undefined;
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => (spawnError = e.message));
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut, spawnError });
    });
  });
}

/** `PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu, compiled by …` → `PostgreSQL 15.18`. */
const shortVersion = (v: string) => v.split(' ').slice(0, 2).join(' ');

/**
 * node-postgres in a child Node.js process that gets only DATABASE_URL, as an ECS task would.
 * NODE_EXTRA_CA_CERTS trusts the local endpoint's throwaway CA (real DSQL chains to public roots).
 */
export async function queryWithNodePostgres(url: string, caFile: string): Promise<QueryOutcome> {
  const r = await run(
    process.execPath,
    [path.join(__dirname, 'app-query.js')],
    {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      DATABASE_URL: url,
      NODE_EXTRA_CA_CERTS: caFile,
      DEMO_SQL: SQL,
    },
    15_000,
  );
  if (r.timedOut) return { ok: false, message: 'node-postgres: no answer within 15 s' };
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (!line)
    return { ok: false, message: `node-postgres app exited with code ${r.code}: ${lastLine(r.stderr) || r.spawnError || 'no output'}` };
  const out = JSON.parse(line) as
    | { ok: true; row: { current_user: string; now: string; version: string } }
    | { ok: false; code?: string; message: string; detail?: string };
  if (!out.ok) return { ok: false, message: `${out.message}${out.detail ? ` (${out.detail})` : ''}${out.code ? ` [${out.code}]` : ''}` };
  // node-postgres 8 prints a SECURITY WARNING for sslmode=require (it means verify-full there).
  const warnings = /SECURITY WARNING: The SSL modes/.test(r.stderr)
    ? ['node-postgres 8 treats sslmode=require as verify-full (and warns); the local CA is in NODE_EXTRA_CA_CERTS']
    : [];
  return { ok: true, row: { user: out.row.current_user, now: out.row.now, version: shortVersion(out.row.version) }, warnings };
}

/** Is `psql` on the PATH? */
export async function psqlVersion(): Promise<string | undefined> {
  const r = await run('psql', ['--version'], { PATH: process.env.PATH ?? '/usr/bin:/bin' }, 5_000);
  return r.code === 0 ? r.stdout.trim().replace(/^psql \(PostgreSQL\) /, '') : undefined;
}

/** psql (libpq) with the URL as its connection string. libpq's sslmode=require encrypts without verifying. */
export async function queryWithPsql(url: string): Promise<QueryOutcome> {
  const SEP = '\x1f';
  const r = await run(
    'psql',
    [url, '-X', '-q', '-A', '-t', '-F', SEP, '-v', 'ON_ERROR_STOP=1', '-c', SQL],
    {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PGCONNECT_TIMEOUT: '5',
      PGAPPNAME: 'cdk-dsql-url-secret-demo',
    },
    15_000,
  );
  if (r.timedOut) return { ok: false, message: 'psql: no answer within 15 s' };
  if (r.code !== 0) return { ok: false, message: `psql exited with code ${r.code}: ${lastLine(r.stderr) || r.spawnError || 'no output'}` };
  const [user, now, version] = r.stdout.trim().split(SEP);
  return { ok: true, row: { user, now, version: shortVersion(version ?? '') }, warnings: [] };
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).pop() ?? '';
}
