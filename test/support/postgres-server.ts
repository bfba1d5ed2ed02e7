import { ChildProcess, execFile, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { Client } from 'pg';
import { freePort } from './free-port';

/**
 * A real, throwaway PostgreSQL server (Debian's postgresql package) for tests and the demo.
 *
 * Each call gets its own temp data directory and free port, so jest workers can run several at once.
 * Authentication is `trust`: the local DSQL endpoint in front of it does the IAM token check.
 */
export interface PostgresServer {
  port: number;
  /** Directory holding the Unix socket (and the data directory). */
  socketDir: string;
  host: '127.0.0.1';
  stop(): Promise<void>;
}

const PG_ROOT = '/usr/lib/postgresql';
const READY_TIMEOUT_MS = 20_000;

/** Roles DSQL would have: `admin` (built in) and a custom role; app_rw may read/write admin's tables. */
const SETUP_SQL = `
  CREATE ROLE admin WITH LOGIN SUPERUSER;
  CREATE ROLE app_rw WITH LOGIN;
  GRANT USAGE, CREATE ON SCHEMA public TO app_rw;
  ALTER DEFAULT PRIVILEGES FOR ROLE admin IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app_rw;
  ALTER DEFAULT PRIVILEGES FOR ROLE admin IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO app_rw;
`;

/** Highest installed version's bin dir, e.g. /usr/lib/postgresql/15/bin. */
function findPgBin(): string {
  const versions = fs.existsSync(PG_ROOT)
    ? fs.readdirSync(PG_ROOT).filter((v) => /^\d+(\.\d+)?$/.test(v) && fs.existsSync(path.join(PG_ROOT, v, 'bin', 'postgres')))
    : [];
  if (versions.length === 0) {
    throw new Error(`No PostgreSQL server found under ${PG_ROOT}/<version>/bin; install it with: apt-get install postgresql`);
  }
  versions.sort((a, b) => Number(b) - Number(a));
  return path.join(PG_ROOT, versions[0], 'bin');
}

/** Postgres refuses to run as root: when we are root, run its binaries as the `postgres` user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    throw new Error('Running as root but there is no `postgres` user (apt-get install postgresql creates it)');
  }
}

// One process-wide 'exit' hook (not one per server, which would trip MaxListenersExceeded): if the
// test process exits without stop(), kill the servers synchronously so no postmaster is left behind.
const exitCleanups = new Set<() => void>();
process.on('exit', () => exitCleanups.forEach((fn) => fn()));

export async function startPostgres(opts: { log?: (line: string) => void } = {}): Promise<PostgresServer> {
  const bin = findPgBin();
  const user = runAs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-test-'));
  const dataDir = path.join(dir, 'data');
  if (user) fs.chownSync(dir, user.uid, user.gid);
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  const log = opts.log ?? (() => undefined);

  try {
    const t0 = Date.now();
    await promisify(execFile)(
      path.join(bin, 'initdb'),
      ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'],
      { env, cwd: dir, ...user },
    );
    log(`initdb done in ${Date.now() - t0} ms`);
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(err as { stderr?: string }).stderr ?? err}`);
  }

  // freePort() races with other workers; if postgres cannot bind, try again with another port.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await launch({ bin, dir, dataDir, port, env, user, log });
    } catch (err) {
      lastError = err;
      if (!/could not (bind|create listen socket)|Address already in use/i.test(String(err))) break;
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

async function launch(a: {
  bin: string;
  dir: string;
  dataDir: string;
  port: number;
  env: NodeJS.ProcessEnv;
  user?: { uid: number; gid: number };
  log: (line: string) => void;
}): Promise<PostgresServer> {
  const t0 = Date.now();
  // Spawn the postgres binary itself (uid/gid instead of `runuser`) so child.pid IS the postmaster
  // and signals reach it directly. fsync & co are off: the data is disposable.
  const child = spawn(
    path.join(a.bin, 'postgres'),
    [
      '-D',
      a.dataDir,
      '-p',
      String(a.port),
      '-k',
      a.dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
      '-c',
      'shared_buffers=16MB',
    ],
    { env: a.env, cwd: a.dir, stdio: ['ignore', 'pipe', 'pipe'], ...a.user },
  );

  const tail: string[] = [];
  const onOutput = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      a.log(`[postgres:${a.port}] ${line}`);
    }
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });

  const killNow = () => {
    if (!hasExited && child.pid)
      try {
        process.kill(child.pid, 'SIGQUIT');
      } catch {
        /* already gone */
      }
    fs.rmSync(a.dir, { recursive: true, force: true, maxRetries: 3 });
  };
  exitCleanups.add(killNow);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      exitCleanups.delete(killNow);
      await terminate(child, exited, () => hasExited);
      fs.rmSync(a.dir, { recursive: true, force: true, maxRetries: 3 });
    })());

  try {
    await waitReady(
      a.port,
      () => hasExited,
      () => tail.join('\n'),
    );
    a.log(`postgres ready on 127.0.0.1:${a.port} after ${Date.now() - t0} ms`);
  } catch (err) {
    // Keep the temp dir (initdb output) for a retry on another port; only kill this postmaster.
    exitCleanups.delete(killNow);
    await terminate(child, exited, () => hasExited);
    throw err;
  }
  return { port: a.port, socketDir: a.dir, host: '127.0.0.1', stop };
}

/** SIGINT = fast shutdown (aborts sessions); escalate to SIGQUIT/SIGKILL if it hangs. */
async function terminate(child: ChildProcess, exited: Promise<void>, hasExited: () => boolean): Promise<void> {
  for (const [signal, waitMs] of [
    ['SIGINT', 10_000],
    ['SIGQUIT', 5_000],
    ['SIGKILL', 5_000],
  ] as const) {
    if (hasExited()) return;
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, waitMs).unref())]);
  }
}

/** Connect in a loop until the server accepts queries, then create the roles. */
async function waitReady(port: number, hasExited: () => boolean, logTail: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (hasExited()) throw new Error(`postgres exited during startup on port ${port}. Server log:\n${logTail()}`);
    const client = new Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    client.on('error', () => undefined); // late socket errors must not crash the test process
    try {
      await client.connect();
      await client.query(SETUP_SQL);
      await client.end();
      return;
    } catch (err) {
      lastError = err;
      await client.end().catch(() => undefined);
      // "the database system is starting up" / ECONNREFUSED are expected while it boots.
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`postgres not ready on port ${port} after ${READY_TIMEOUT_MS} ms (${lastError}). Server log:\n${logTail()}`);
}
