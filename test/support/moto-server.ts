/**
 * Starts a private moto server (one Python process per call) on a free 127.0.0.1 port.
 *
 * Each jest worker / test file can run its own, so tests never share AWS state. Nothing is written to
 * the global process.env: build SDK v3 clients with `server.clientConfig()`.
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { freePort } from './free-port';

export interface MotoClientConfig {
  endpoint: string;
  region: 'us-east-1';
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface MotoServer extends MotoClientConfig {
  /** Moto's fixed account id: ARNs it creates use this. */
  readonly accountId: '123456789012';
  /** OS process id of the Python server (lets tests check that stop() really killed it). */
  readonly pid: number;
  clientConfig(): MotoClientConfig;
  /** POST /moto-api/reset: drops every resource in every service. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;
const STDERR_TAIL_LINES = 40;

let pythonCache: string | undefined;

/** Finds a Python interpreter that can import moto's server (needs the `moto[server]` extra: flask). */
export function findMotoPython(): string {
  if (pythonCache) return pythonCache;
  const candidates = ['python3'];
  const pyenvRoot = process.env.PYENV_ROOT ?? path.join(os.homedir(), '.pyenv');
  const versions = path.join(pyenvRoot, 'versions');
  if (fs.existsSync(versions)) {
    for (const v of fs.readdirSync(versions).sort().reverse()) candidates.push(path.join(versions, v, 'bin', 'python3'));
  }
  candidates.push('/usr/bin/python3');
  for (const candidate of candidates) {
    try {
      // Resolve to the real interpreter: a pyenv shim is a shell script, slower to start and it would
      // make the server's pid differ from the process we signal.
      const exe = execFileSync(candidate, ['-c', 'import moto.server, sys; print(sys.executable)'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 20_000,
      }).trim();
      if (exe) return (pythonCache = exe);
    } catch {
      // not this one
    }
  }
  throw new Error(`moto not found: pip install 'moto[server]' (tried ${candidates.join(', ')}; none could 'import moto.server')`);
}

export async function startMoto(opts: { log?: (line: string) => void } = {}): Promise<MotoServer> {
  const python = findMotoPython();
  // freePort() can race with another worker binding the same port: retry with a new port.
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(python, await freePort(), opts.log);
    } catch (e) {
      lastError = e;
      if (!/address already in use/i.test(String((e as Error).message))) break;
    }
  }
  throw lastError;
}

async function startOnce(python: string, port: number, log?: (line: string) => void): Promise<MotoServer> {
  const child = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  child.once('error', (e) => tail.push(`spawn error: ${e.message}`));
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  // Moto logs every request; the pipes must always be drained or the server blocks on a full pipe.
  const onOutput = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > STDERR_TAIL_LINES) tail.shift();
      log?.(line);
    }
  };
  child.stdout!.on('data', onOutput);
  child.stderr!.on('data', onOutput);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await waitUntilUp(endpoint, child, () => tail.join('\n'));
  } catch (e) {
    await stop();
    throw e;
  }

  const config: MotoClientConfig = {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
  return {
    ...config,
    accountId: '123456789012',
    pid: child.pid!,
    clientConfig: () => ({ ...config, credentials: { ...config.credentials } }),
    reset: async () => {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status} ${await res.text()}`);
    },
    stop,
  };
}

async function waitUntilUp(endpoint: string, child: ChildProcess, tail: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      throw new Error(`moto server exited early (code ${child.exitCode}, signal ${child.signalCode}):\n${tail()}`);
    }
    try {
      // A moto-only path, so an unrelated server that won the port race is not mistaken for moto.
      const res = await fetch(`${endpoint}/moto-api/config`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`moto server did not answer on ${endpoint} within ${START_TIMEOUT_MS / 1000}s:\n${tail()}`);
}
