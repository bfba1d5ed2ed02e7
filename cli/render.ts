/**
 * The two displays of `rotate --wait`: a compact table redrawn in place on a
 * terminal, and append-only timestamped lines (one per change) everywhere
 * else (CI logs, pipes, files). Every line goes through redact().
 */
import { clock, formatDuration, relative } from './duration';
import { redact } from '../core/redact';
import { fit, isoSeconds, shortDeploymentId, shortId, table } from './format';
import type { StatusReport } from './status';
import { Outcome, Reporter, ServiceProgress, WatchSnapshot } from './watch-report';

export interface OutStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Where the output goes and how it is drawn. */
export interface Io {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  /** Draw the live table (a terminal) or print lines. */
  readonly live: boolean;
  readonly now: () => number;
}

/** `CDK_DSQL_URL_SECRET_TTY=1` forces the live table, `=0` the lines; otherwise stdout.isTTY decides. */
export const TTY_ENV = 'CDK_DSQL_URL_SECRET_TTY';

export function liveOutput(stdout: OutStream, env: NodeJS.ProcessEnv): boolean {
  const forced = env[TTY_ENV];
  if (forced === '1' || forced === 'true') return true;
  if (forced === '0' || forced === 'false') return false;
  return stdout.isTTY === true && env.TERM !== 'dumb';
}

export function createReporter(io: Io): Reporter & { close(): void } {
  return io.live ? new LiveReporter(io) : new LineReporter(io);
}

function versionText(s: WatchSnapshot): string {
  switch (s.versionState) {
    case 'starting':
      return 'staging';
    case 'AWSPENDING':
      return 'AWSPENDING';
    case 'AWSCURRENT':
      return 'AWSPENDING → AWSCURRENT';
    case 'abandoned':
      return 'ABANDONED (never became AWSCURRENT)';
  }
}

function expiryText(s: WatchSnapshot, now: number): string {
  if (s.expiresAt) return `token expires ${isoSeconds(s.expiresAt)} (${relative(s.expiresAt, now)})`;
  return s.expiryNote ? `token expiry ${s.expiryNote}` : '';
}

function serviceState(x: ServiceProgress): string {
  switch (x.state) {
    case 'waiting':
      return 'waiting for redeploy';
    case 'gone':
      return `gone (${x.reason ?? 'deleted'}), skipped`;
    case 'invalid':
      return `invalid ARN (${x.reason ?? ''})`;
    default:
      return `${x.state}${x.derived ? '*' : ''}`;
  }
}

function tasks(x: ServiceProgress): string {
  return x.running === undefined ? '-' : `${x.running}/${x.desired ?? '?'}`;
}

/** Timestamped, append-only: a line per change, and a reminder each minute that nothing changed. */
export class LineReporter implements Reporter {
  private last?: WatchSnapshot;
  private lastLineAt = 0;
  static readonly HEARTBEAT_MS = 60_000;

  constructor(private readonly io: Io) {}

  private line(text: string, stream: 'stdout' | 'stderr' = 'stdout'): void {
    const now = this.io.now();
    this.lastLineAt = now;
    this.io[stream].write(`${new Date(now).toISOString()} ${redact(text)}\n`);
  }

  info(text: string): void {
    this.line(text);
  }

  update(s: WatchSnapshot): void {
    const prev = this.last;
    this.last = s;
    const v = `version ${shortId(s.versionId)}`;
    if (prev === undefined || prev.versionState !== s.versionState) {
      if (s.versionState === 'AWSPENDING') this.line(`${v}: AWSPENDING (the rotation function is creating and testing the new URL)`);
      else if (s.versionState === 'starting') this.line(`${v}: staging`);
      else if (s.versionState === 'AWSCURRENT') {
        const prevText = s.previousVersion ? ` (previous version ${shortId(s.previousVersion)} is now AWSPREVIOUS)` : '';
        this.line(`${v}: ${prev?.versionState === 'AWSPENDING' ? 'AWSPENDING → ' : ''}AWSCURRENT${prevText}`);
        const expiry = expiryText(s, this.io.now());
        if (expiry) this.line(`${v}: ${expiry}`);
        if (s.servicesNote) this.line(s.servicesNote);
        else this.line(`waiting for the new deployment of ${s.services.length} bound service${s.services.length === 1 ? '' : 's'}`);
      }
    }
    if (s.versionState === 'AWSCURRENT') {
      for (const x of s.services) {
        const before = prev?.services.find((p) => p.arn === x.arn);
        const justPromoted = prev?.versionState !== 'AWSCURRENT';
        // At promotion, services still without a new deployment are covered by the "waiting for" line.
        if (justPromoted && x.state === 'waiting') continue;
        const changed =
          justPromoted ||
          before === undefined ||
          before.state !== x.state ||
          before.deploymentId !== x.deploymentId ||
          before.running !== x.running ||
          before.desired !== x.desired;
        if (!changed) continue;
        const deployment = x.deploymentId ? ` deployment ${x.deploymentId}` : '';
        const why = x.state === 'FAILED' && x.reason ? `: ${x.reason}` : '';
        const derived = x.derived ? ' (no rolloutState from ECS: running = desired and no other deployment)' : '';
        this.line(
          `service ${x.label}:${deployment} ${serviceState(x)} ${tasks(x)}${why}${x.state === 'COMPLETED' ? derived : ''}`.replace(
            / -$/,
            '',
          ),
        );
      }
    }
    if (s.warning && s.warning !== prev?.warning) this.line(`warning: ${s.warning}`);
    if (this.io.now() - this.lastLineAt >= LineReporter.HEARTBEAT_MS) {
      this.line(`still waiting (${formatDuration(s.elapsedMs)} elapsed): ${pendingSummary(s)}`);
    }
  }

  finish(outcome: Outcome, _last: WatchSnapshot | undefined): void {
    this.line(outcome.message, outcome.code === 0 ? 'stdout' : 'stderr');
  }

  close(): void {}
}

function pendingSummary(s: WatchSnapshot): string {
  if (s.versionState !== 'AWSCURRENT')
    return `version ${shortId(s.versionId)} is ${s.versionState === 'starting' ? 'being staged' : 'AWSPENDING'}`;
  const open = s.services.filter((x) => x.state === 'waiting' || x.state === 'IN_PROGRESS');
  return `${open.length} service${open.length === 1 ? '' : 's'} not done (${open.map((x) => `${x.label} ${serviceState(x)}`).join(', ')})`;
}

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const CLEAR_DOWN = '\x1b[J';

/** The live table, redrawn in place; the last frame stays on screen. */
export class LiveReporter implements Reporter {
  private drawn = 0;
  private last?: WatchSnapshot;
  private ticker?: NodeJS.Timeout;
  private cursorHidden = false;
  private lastUpdateAt = 0;
  private drawnText = '';

  constructor(private readonly io: Io) {}

  info(text: string): void {
    this.io.stdout.write(`${redact(text)}\n`);
  }

  update(s: WatchSnapshot): void {
    this.last = s;
    this.lastUpdateAt = this.io.now();
    if (!this.cursorHidden) {
      this.io.stdout.write(HIDE_CURSOR);
      this.cursorHidden = true;
    }
    this.draw();
    // Keep the elapsed clock moving between polls.
    this.ticker ??= setInterval(() => this.draw(), 1_000).unref();
  }

  /** The lines of one frame. */
  frame(s: WatchSnapshot, elapsedMs: number): string[] {
    const now = this.io.now();
    const lines: string[] = [];
    lines.push(`Rotating ${s.secretName}   elapsed ${clock(elapsedMs)} / timeout ${formatDuration(s.timeoutMs)}`);
    const expiry = s.versionState === 'AWSCURRENT' ? expiryText(s, now) : '';
    lines.push(
      `  version ${shortId(s.versionId)}  ${versionText(s)}${s.versionState === 'AWSCURRENT' ? ' ✓' : ' …'}${expiry ? `   ${expiry}` : ''}`,
    );
    if (s.servicesNote) {
      lines.push(`  ${s.servicesNote}`);
    } else {
      const rows = [['SERVICE', 'DEPLOYMENT', 'STATE', 'TASKS']];
      for (const x of s.services) {
        const state = s.versionState === 'AWSCURRENT' ? serviceState(x) : 'waiting for AWSCURRENT';
        rows.push([x.label, shortDeploymentId(x.deploymentId), state, tasks(x)]);
      }
      lines.push(...table(rows).map((l) => `  ${l}`));
      if (s.services.some((x) => x.derived))
        lines.push('  * ECS reported no rolloutState: done when running = desired and no other deployment is left');
    }
    if (s.warning) lines.push(`  warning: ${s.warning}`);
    return lines.map((l) => fit(redact(l), this.io.stdout.columns));
  }

  private draw(): void {
    if (!this.last) return;
    const elapsed = this.last.elapsedMs + Math.max(0, this.io.now() - this.lastUpdateAt);
    const lines = this.frame(this.last, elapsed);
    const text = lines.join('\n');
    if (text === this.drawnText) return; // nothing changed: no flicker
    // Back to the first line of the previous frame, clear it all, draw again.
    const up = this.drawn > 0 ? `\r\x1b[${this.drawn}A` : '';
    this.io.stdout.write(`${up}${CLEAR_DOWN}${text}\n`);
    this.drawn = lines.length;
    this.drawnText = text;
  }

  finish(outcome: Outcome, last: WatchSnapshot | undefined): void {
    this.stopTicker();
    if (last && last !== this.last) {
      this.last = last;
      this.lastUpdateAt = this.io.now();
      this.draw();
    }
    this.restoreCursor();
    (outcome.code === 0 ? this.io.stdout : this.io.stderr).write(`${redact(outcome.message)}\n`);
  }

  close(): void {
    this.stopTicker();
    this.restoreCursor();
  }

  private stopTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  private restoreCursor(): void {
    if (this.cursorHidden) this.io.stdout.write(SHOW_CURSOR);
    this.cursorHidden = false;
  }
}

// `status`'s fleet: which token the bound services' running tasks hold.

/** valid/expired: a known expiry against checkedAt; unknown: a task holds a token older than the history (counted as expired). */
export type ExpiryState = 'valid' | 'expired' | 'unknown';

export interface ServiceFleetStatus {
  /** surveyed: tasks listed; current: all deployments newer than the promotion (not listed); gone; failed: an ECS call failed. */
  readonly state: 'surveyed' | 'current' | 'gone' | 'failed';
  /** Running tasks on AWSCURRENT's token, on the one before, and on anything older or of unknown age. */
  readonly tasks: { readonly current: number; readonly previous: number; readonly older: number };
  /** The earliest expiry its running tasks hold; null when unknown or, with oldestState null, when no task runs or the survey failed. */
  readonly oldestExpiresAt: string | null;
  readonly oldestState: ExpiryState | null;
  /** The failed call (`failed`), e.g. AccessDeniedException on ecs:ListTasks. */
  readonly error: string | null;
}

function fleetExpiryText(oldest: Pick<ServiceFleetStatus, 'oldestExpiresAt' | 'oldestState'>, now: number): string {
  if (oldest.oldestState === null) return '-';
  if (oldest.oldestState === 'unknown') return 'unknown (counted as expired)';
  const at = new Date(oldest.oldestExpiresAt!);
  return oldest.oldestState === 'expired' ? `EXPIRED ${relative(at, now)}` : `${isoSeconds(at)} (${relative(at, now)})`;
}

/** The fleet table of `status`: tasks by the token they hold, and the oldest expiry each service's tasks hold. */
export function fleetLines(r: StatusReport, now: number): string[] {
  const lines = [`Tokens held by running tasks (oldest: ${fleetExpiryText(r.fleet, now)}):`];
  const rows = [['SERVICE', 'CURRENT', 'PREVIOUS', 'OLDER', 'OLDEST EXPIRY']];
  for (const s of r.boundServices.services) {
    const f = s.fleet;
    const label = s.cluster ? `${s.cluster}/${s.name}` : s.arn;
    if (f === null || f.state === 'gone') rows.push([label, '-', '-', '-', f === null ? 'not surveyed' : 'gone']);
    else if (f.state === 'failed') rows.push([label, '?', '?', '?', `could not tell: ${f.error ?? 'unknown error'}`]);
    else rows.push([label, String(f.tasks.current), String(f.tasks.previous), String(f.tasks.older), fleetExpiryText(f, now)]);
  }
  lines.push(...table(rows).map((l) => `  ${l}`));
  if (r.boundServices.services.some((s) => (s.fleet?.tasks.previous ?? 0) + (s.fleet?.tasks.older ?? 0) > 0)) {
    lines.push('  Tasks not on the current token are replaced by their rollout; the watchdog redeploys services where they outlive it.');
  }
  return lines.map((l) => redact(l));
}
