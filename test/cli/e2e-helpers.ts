/**
 * End-to-end helpers: the bundled CLI run as a child process against moto, through the
 * RotateSecret interceptor, with the secret tagged as the construct tags it.
 */
import { execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { TagResourceCommand } from '@aws-sdk/client-secrets-manager';
import { SecretTag } from '../../lib/secret-tags';
import { snapshotFunctionBundles } from '../support/function-bundles';
import { LocalStack, startLocalStack } from '../support/local-stack';
import { RolloutSimulation, RotateSecretInterceptor, startRotateSecretInterceptor } from '../support/rotate-secret-interceptor';

const ROOT = path.join(__dirname, '..', '..');
export const CLI_BUNDLE = path.join(ROOT, 'assets', 'cli', 'index.js');
const run = promisify(execFile);

/**
 * Runs scripts/bundle-cli.mjs (which writes assets/cli/index.js atomically), then copies the bundle to a
 * directory outside the repository: run from there, it can only work if every dependency is inside it.
 */
export async function bundleCli(): Promise<{ cli: string; dir: string; remove(): void }> {
  await run(process.execPath, [path.join(ROOT, 'scripts', 'bundle-cli.mjs')], { cwd: ROOT, timeout: 120_000 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-dsql-url-secret-cli-'));
  const cli = path.join(dir, 'index.js');
  fs.copyFileSync(CLI_BUNDLE, cli);
  return { cli, dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export const MANAGED_BY = 'CliTestStack/DatabaseUrl';
export const ROTATION_INTERVAL_SECONDS = 4 * 3600;

export interface CliStack {
  readonly stack: LocalStack;
  readonly interceptor: RotateSecretInterceptor;
  stop(): Promise<void>;
}

/** startLocalStack() with the secret tagged as the construct tags it, and the interceptor in front of the fault proxy. */
export async function startCliStack(opts: { services?: number; clusters?: number; rollout?: RolloutSimulation } = {}): Promise<CliStack> {
  // A private copy of the function bundles: a rebuild of assets/ during the run cannot change them.
  const bundle = await snapshotFunctionBundles();
  let stack: LocalStack | undefined;
  try {
    stack = await startLocalStack({ services: opts.services ?? 3, clusters: opts.clusters, bundlesDir: bundle.dir });
    await stack.sm.send(
      new TagResourceCommand({
        SecretId: stack.secretArn,
        Tags: [
          { Key: SecretTag.MANAGED_BY, Value: MANAGED_BY },
          { Key: SecretTag.BOUND_SERVICES_PARAMETER, Value: stack.parameterName },
          { Key: SecretTag.ROTATION_INTERVAL_SECONDS, Value: String(ROTATION_INTERVAL_SECONDS) },
        ],
      }),
    );
    const interceptor = await startRotateSecretInterceptor({
      upstream: stack.proxy.endpoint,
      sm: stack.sm,
      invokeStep: stack.invokeStep,
      rollout: opts.rollout,
    });
    const started = stack;
    return {
      stack: started,
      interceptor,
      stop: async () => {
        try {
          await interceptor.stop();
        } finally {
          await started.stop();
          bundle.remove();
        }
      },
    };
  } catch (err) {
    await stack?.stop();
    bundle.remove();
    throw err;
  }
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A fake but realistic-looking access key: the CLI must never print it. */
export const TEST_ACCESS_KEY_ID = 'AKIAQX4CLITESTKEY7Z2P';
export const TEST_SECRET_ACCESS_KEY = 'cliTestSecretAccessKey/0123456789abcdefghij';

export interface RunOptions {
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
  /** Called with each stdout chunk, e.g. to send SIGINT once something was printed. */
  readonly onStdout?: (chunk: string, child: import('child_process').ChildProcess) => void;
  /** Run through this command instead of node, e.g. `script` for a real pseudo-terminal. */
  readonly wrap?: (nodeArgs: string[]) => { file: string; args: string[] };
}

/** Runs `node <cli> ...args` with only the environment a user would have (no AWS config files). */
export function runCli(cli: string, args: readonly string[], opts: RunOptions = {}): Promise<CliResult> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: os.tmpdir(),
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_ACCESS_KEY_ID: TEST_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: TEST_SECRET_ACCESS_KEY,
    AWS_REGION: 'us-east-1',
    ...opts.env,
  };
  const nodeArgs = [cli, ...args];
  const { file, args: argv } = opts.wrap ? opts.wrap([process.execPath, ...nodeArgs]) : { file: process.execPath, args: nodeArgs };
  const child = spawn(file, argv, { env, cwd: path.dirname(cli), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
    opts.onStdout?.(c.toString('utf8'), child);
  });
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
