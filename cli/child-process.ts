/**
 * Runs exec's command as a shell would: stdio inherited, signals passed on, and an exit code
 * that says what happened (the command's own, 128 + signal number, 126 or 127).
 */
import { ChildProcess, spawn as nodeSpawn, SpawnOptions } from 'child_process';
import { constants } from 'os';

/** node's child_process.spawn, or a fake in tests. */
export type SpawnFn = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

/** Where signals to this process arrive: `process`, or a fake in tests. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: () => void): unknown;
  off(signal: NodeJS.Signals, listener: () => void): unknown;
}

/** Passed on to the command: Ctrl-C, `kill`, a CI runner cancelling the job, a closed terminal. */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** As POSIX shells report them. */
export const NOT_EXECUTABLE = 126;
export const NOT_FOUND = 127;

export type ChildOutcome =
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'signalled'; readonly signal: NodeJS.Signals; readonly code: number }
  /** The command never started: ENOENT (127), EACCES (126), anything else (1). */
  | { readonly kind: 'not-started'; readonly errno: string; readonly code: number };

export interface RunChildOptions {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly spawn?: SpawnFn;
  readonly signals?: SignalSource;
}

/** 128 + the signal's number, as shells report a command a signal killed. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

export function runChild(o: RunChildOptions): Promise<ChildOutcome> {
  const signals = o.signals ?? process;
  return new Promise((resolve) => {
    let child: ChildProcess;
    const forwarders = FORWARDED_SIGNALS.map((signal) => {
      // A listener also keeps this process alive on the signal, so it can report the command's exit code.
      // At a terminal, Ctrl-C reaches the command too (same process group): it may see SIGINT twice.
      const listener = () => {
        if (child?.exitCode === null && child.signalCode === null) child.kill(signal);
      };
      signals.on(signal, listener);
      return { signal, listener };
    });
    const settle = (outcome: ChildOutcome) => {
      for (const f of forwarders) signals.off(f.signal, f.listener);
      resolve(outcome);
    };
    try {
      child = (o.spawn ?? nodeSpawn)(o.command, o.args, { env: o.env, stdio: 'inherit' });
    } catch (err) {
      settle(notStarted(err));
      return;
    }
    child.once('error', (err) => {
      // After a start, 'error' only means a kill() failed; 'exit' still follows.
      if (child.pid === undefined) settle(notStarted(err));
    });
    child.once('exit', (code, signal) => {
      settle(signal ? { kind: 'signalled', signal, code: signalExitCode(signal) } : { kind: 'exited', code: code ?? 1 });
    });
  });
}

function notStarted(err: unknown): ChildOutcome {
  const errno = (err as NodeJS.ErrnoException)?.code ?? 'UNKNOWN';
  const code = errno === 'ENOENT' ? NOT_FOUND : errno === 'EACCES' || errno === 'EISDIR' ? NOT_EXECUTABLE : 1;
  return { kind: 'not-started', errno, code };
}
