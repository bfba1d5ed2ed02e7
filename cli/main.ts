/** The CLI as a function: arguments and streams in, an exit code out. */
import { Command, parseCommandLine, PROGRAM, USAGE } from './args';
import { AwsOptions, Clients, createClients, regionFromArn } from './aws';
import { CliError, ExitCode } from './errors';
import { ExecDeps, runExec } from './exec';
import { redact } from '../core/redact';
import { createReporter, liveOutput, OutStream } from './render';
import { runRotate } from './rotate';
import { collectStatus, formatStatus } from './status';

declare const __CLI_VERSION__: string | undefined;
export const VERSION = typeof __CLI_VERSION__ === 'string' ? __CLI_VERSION__ : 'dev';

export interface MainOptions {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly now?: () => number;
  /** Aborted on Ctrl-C: rotate --wait stops watching. */
  readonly signal?: AbortSignal;
  /** Replaced in tests. */
  readonly createClients?: (opts: AwsOptions) => Clients;
  /** Between two polls of rotate --wait (tests pass a fake). */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** exec: how the command starts, where signals arrive, the --sign credentials (tests pass fakes). */
  readonly exec?: Pick<ExecDeps, 'spawn' | 'signals' | 'credentials'>;
}

/** An ExitCode, or for exec the command's own exit code. */
export async function main(o: MainOptions): Promise<number> {
  const now = o.now ?? Date.now;
  const error = (message: string) => o.stderr.write(`error: ${redact(message)}\n`);
  let command: Command;
  try {
    command = parseCommandLine(o.argv);
  } catch (err) {
    error((err as Error).message);
    o.stderr.write(`Run '${PROGRAM} --help' for usage.\n`);
    return ExitCode.USAGE;
  }
  if (command.command === 'help') {
    o.stdout.write(USAGE);
    return ExitCode.OK;
  }
  if (command.command === 'usage') {
    o.stderr.write(USAGE);
    return ExitCode.USAGE;
  }
  if (command.command === 'version') {
    o.stdout.write(`${VERSION}\n`);
    return ExitCode.OK;
  }

  const aws = { ...command.aws, region: command.aws.region ?? regionFromArn(command.secretId) };
  let clients: Clients | undefined;
  let reporter: ReturnType<typeof createReporter> | undefined;
  try {
    clients = (o.createClients ?? createClients)(aws);
    if (command.command === 'status') {
      const report = await collectStatus(clients, command.secretId, now);
      o.stdout.write(redact(command.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatStatus(report).join('\n')}\n`));
      return ExitCode.OK;
    }
    if (command.command === 'exec') {
      return await runExec({ ...command, profile: command.aws.profile }, { ...o.exec, clients, env: o.env, stderr: o.stderr, now });
    }
    reporter = createReporter({ stdout: o.stdout, stderr: o.stderr, live: command.wait && liveOutput(o.stdout, o.env), now });
    return await runRotate(command, { clients, reporter, now, signal: o.signal, sleep: o.sleep });
  } catch (err) {
    reporter?.close();
    if (err instanceof CliError) {
      error(err.message);
      return err.exitCode;
    }
    const e = err as Error;
    error(`unexpected ${e?.name ?? 'error'}: ${e?.message ?? String(err)}`);
    return ExitCode.FAILED;
  } finally {
    reporter?.close();
    clients?.destroy();
  }
}
