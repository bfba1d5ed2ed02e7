/**
 * Invokes a bundled Lambda handler in a fresh Node.js child process, as the Lambda runtime would.
 *
 * A child (not an in-process require) so per-process settings behave as in Lambda: the environment
 * is exactly what the caller passes (NODE_EXTRA_CA_CERTS, AWS_ENDPOINT_URL, credentials, ...), module
 * state starts cold, and a hung handler can be killed.
 */
import { spawn } from 'child_process';
import * as path from 'path';
import { HANDLER_EXPORT } from '../../lib/contract';

export type InvokeResult =
  { ok: true; result: unknown; logs: string } | { ok: false; error: { name: string; message: string }; logs: string };

export interface InvokeOptions {
  /** Path to a CommonJS file exporting the handler function. */
  bundle: string;
  /**
   * Name of the export to call, like the part after the dot in Lambda's `handler` setting
   * (`index.handler`). Default HANDLER_EXPORT, what every function bundle exports.
   */
  exportName?: string;
  /** The function's whole environment, AWS settings included: the parent's AWS_* are NOT inherited. */
  env: Record<string, string>;
  event: unknown;
  /** Like the function timeout: the child is killed after this (default 30 s). */
  timeoutMs?: number;
}

const CHILD = path.join(__dirname, 'lambda-runner-child.js');

export async function invokeHandler(opts: InvokeOptions): Promise<InvokeResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    // Lambda has no ~/.aws files; without this the SDK in the child would read the developer's.
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    ...opts.env,
  };
  const child = spawn(process.execPath, [CHILD, path.resolve(opts.bundle), String(timeoutMs), opts.exportName ?? HANDLER_EXPORT], {
    env,
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });

  // stdout and stderr interleaved in arrival order, like one CloudWatch log stream.
  let logs = '';
  child.stdout!.on('data', (c: Buffer) => (logs += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (logs += c.toString('utf8')));
  let outcome = '';
  child.stdio[3]!.on('data', (c: Buffer) => (outcome += c.toString('utf8')));

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);

  child.stdin!.on('error', () => undefined); // the child may exit before reading the event
  child.stdin!.end(JSON.stringify(opts.event ?? null));

  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  }).finally(() => clearTimeout(timer));

  if (timedOut) {
    return { ok: false, error: { name: 'TimeoutError', message: `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds` }, logs };
  }
  const line = outcome.split('\n').find((l) => l.trim());
  if (!line) {
    // The handler killed its own process (process.exit, crash) before answering.
    const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
    return { ok: false, error: { name: 'Runtime.ExitError', message: `Runtime exited without providing a reason (${how})` }, logs };
  }
  const parsed = JSON.parse(line) as { ok: true; result: unknown } | { ok: false; error: { name: string; message: string } };
  return { ...parsed, logs };
}
