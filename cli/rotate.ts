/**
 * `rotate`: RotateSecret, then (with --wait) follow the new version from
 * AWSPENDING to AWSCURRENT and each bound service's new deployment until it
 * completes, one fails, or the timeout passes.
 */
import { RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { startedAfterPromotion } from '../core/ecs-services';
import { isRotationInProgressError } from '../core/rotation-errors';
import { Clients } from './aws';
import { CliError, ExitCode, ExitCodeValue, explainAwsError } from './errors';
import { formatDuration, relative } from './duration';
import { isoSeconds, shortId } from './format';
import { describeManagedSecret, ManagedSecret, readCurrentValueInfo, versionCreationDates } from './secret';
import {
  BoundServices, DeploymentSnapshot, describeServices, loadBoundServices, primaryDeployment, rolloutStateOf, serviceLabel, ServiceSnapshot,
} from './services';
import { functionNameOf } from './status';

export type VersionState = 'starting' | 'AWSPENDING' | 'AWSCURRENT' | 'abandoned';
export type ServiceState = 'waiting' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | 'gone' | 'invalid';

export interface ServiceProgress {
  readonly arn: string;
  /** `cluster/service`. */
  readonly label: string;
  readonly state: ServiceState;
  readonly deploymentId?: string;
  readonly running?: number;
  readonly desired?: number;
  /** ECS reported no rolloutState: the state was derived from the task counts. */
  readonly derived?: boolean;
  readonly reason?: string;
}

/** Everything the display shows, at one moment. */
export interface WatchSnapshot {
  readonly secretName: string;
  readonly versionId: string;
  readonly previousVersion?: string;
  readonly versionState: VersionState;
  readonly expiresAt?: Date;
  /** Why the expiry is not shown, when it cannot be read. */
  readonly expiryNote?: string;
  readonly services: readonly ServiceProgress[];
  /** e.g. "no bound services (parameter … does not exist yet)". */
  readonly servicesNote?: string;
  /** The last poll failed with a transient error (throttling, network): shown, and polled again. */
  readonly warning?: string;
  readonly elapsedMs: number;
  readonly timeoutMs: number;
}

export interface Outcome {
  readonly code: ExitCodeValue;
  readonly message: string;
}

/** What a display implements: a live table on a terminal, timestamped lines elsewhere. */
export interface Reporter {
  /** A line of its own (not part of the progress display). */
  info(line: string): void;
  update(snapshot: WatchSnapshot): void;
  finish(outcome: Outcome, last: WatchSnapshot | undefined): void;
}

export interface RotateOptions {
  readonly secretId: string;
  readonly wait: boolean;
  readonly timeoutMs: number;
  readonly intervalMs: number;
}

export interface RotateDeps {
  readonly clients: Clients;
  readonly reporter: Reporter;
  readonly now?: () => number;
  /** Resolves after `ms`; rejects with an AbortError when `signal` aborts. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly signal?: AbortSignal;
}

/** How long a version may stay invisible after RotateSecret returned before it counts as abandoned. */
export const VERSION_VISIBLE_GRACE_MS = 30_000;
/** Polls in a row that may fail with a transient error before rotate --wait gives up. */
export const MAX_TRANSIENT_FAILURES = 5;

export function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(abortError()); return; }
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(timer); reject(abortError()); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(): Error {
  return Object.assign(new Error('interrupted'), { name: 'AbortError' });
}

export function rotationInProgressMessage(secret: Pick<ManagedSecret, 'name' | 'arn' | 'pendingVersion' | 'rotationLambdaArn'>, since?: Date, now = Date.now()): string {
  const fn = functionNameOf(secret.rotationLambdaArn);
  const which = secret.pendingVersion ? `version ${shortId(secret.pendingVersion)} is still AWSPENDING${since ? ` (started ${relative(since, now)})` : ''}` : 'Secrets Manager says a previous rotation isn\'t complete';
  return `A rotation of ${secret.name} is already in progress: ${which}. `
    + `Follow it with \`cdk-dsql-url-secret status --secret-id ${secret.arn}\` and run rotate again once it has finished. `
    + `If it stays in progress, the rotation function is failing and Secrets Manager keeps retrying it: see ${fn ? `/aws/lambda/${fn}` : 'its CloudWatch logs'} `
    + '(the construct\'s watchdog clears a stale AWSPENDING version).';
}

export async function runRotate(opts: RotateOptions, deps: RotateDeps): Promise<ExitCodeValue> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? sleepFor;
  const { clients, reporter } = deps;
  const started = now();

  const secret = await describeManagedSecret(clients, opts.secretId);
  if (secret.pendingVersion) {
    const created = (await versionCreationDates(clients, secret.arn)).get(secret.pendingVersion);
    throw new CliError(rotationInProgressMessage(secret, created, now()));
  }

  // Before starting anything: check that the rotation can be followed (permissions), and note each
  // service's deployments so that the one the rotation starts can be told apart.
  let bound: BoundServices = { exists: false, arns: [] };
  const baseline = new Map<string, Set<string>>();
  if (opts.wait) {
    bound = await loadBoundServices(clients, secret.boundServicesParameter);
    for (const [arn, snap] of await describeServices(clients, bound.arns)) {
      baseline.set(arn, new Set(snap.kind === 'found' ? snap.deployments.map((d) => d.id) : []));
    }
  }

  let versionId: string;
  try {
    const out = await clients.sm.send(new RotateSecretCommand({ SecretId: secret.arn }));
    if (!out.VersionId) throw new CliError('RotateSecret answered without a VersionId');
    versionId = out.VersionId;
  } catch (err) {
    if (isRotationInProgressError(err)) {
      // Another rotation started since the check above (the schedule, the watchdog, someone else).
      const again = await describeManagedSecret(clients, secret.arn).catch(() => ({ ...secret, pendingVersion: undefined }));
      throw new CliError(rotationInProgressMessage(again, undefined, now()));
    }
    const fn = functionNameOf(secret.rotationLambdaArn);
    throw explainAwsError(err, {
      api: 'RotateSecret', action: 'secretsmanager:RotateSecret', resource: `the secret ${secret.arn}`,
      alsoNeeds: `RotateSecret also needs lambda:InvokeFunction on the rotation function${fn ? ` (${fn})` : ''}.`,
    }, clients.endpointUrl);
  }
  reporter.info(`Started rotation of ${secret.name}: new version ${shortId(versionId)} (${versionId})`
    + `${secret.currentVersion ? `, replacing ${shortId(secret.currentVersion)}` : ''}.`);
  if (!opts.wait) {
    reporter.info(`Secrets Manager runs the rotation function now. Follow it with: cdk-dsql-url-secret status --secret-id ${secret.arn}`
      + ' (or start with rotate --wait next time).');
    return ExitCode.OK;
  }

  const watch = new RotationWatch({
    clients, secretId: secret.arn, secretName: secret.name, versionId, previousVersion: secret.currentVersion,
    bound, baseline, startedAt: started, timeoutMs: opts.timeoutMs, rotationLambdaArn: secret.rotationLambdaArn, now,
  });
  const deadline = started + opts.timeoutMs;
  let last: WatchSnapshot | undefined;
  try {
    for (let failures = 0; ;) {
      let snapshot: WatchSnapshot;
      let outcome: Outcome | undefined;
      try {
        ({ snapshot, outcome } = await watch.tick());
        failures = 0;
      } catch (err) {
        // One throttled or dropped poll must not end a long wait: show it and poll again.
        if (!(err instanceof CliError && err.transient) || ++failures > MAX_TRANSIENT_FAILURES) throw err;
        snapshot = { ...watch.current(), warning: `${err.message} (poll ${failures} of ${MAX_TRANSIENT_FAILURES} failed in a row; trying again)` };
      }
      last = snapshot;
      reporter.update(snapshot);
      if (outcome) {
        reporter.finish(outcome, snapshot);
        return outcome.code;
      }
      const left = deadline - now();
      if (left <= 0) {
        const timeout = watch.timeoutOutcome(snapshot);
        reporter.finish(timeout, snapshot);
        return timeout.code;
      }
      await sleep(Math.min(opts.intervalMs, left), deps.signal);
    }
  } catch (err) {
    if ((err as Error).name === 'AbortError') {
      const outcome = {
        code: ExitCode.INTERRUPTED,
        message: `Stopped watching. The rotation of ${secret.name} goes on in AWS: follow it with cdk-dsql-url-secret status --secret-id ${secret.arn}`,
      };
      reporter.finish(outcome, last);
      return outcome.code;
    }
    throw err;
  }
}

interface WatchConfig {
  readonly clients: Clients;
  readonly secretId: string;
  readonly secretName: string;
  readonly versionId: string;
  readonly previousVersion?: string;
  readonly bound: BoundServices;
  readonly baseline: ReadonlyMap<string, ReadonlySet<string>>;
  readonly startedAt: number;
  readonly timeoutMs: number;
  readonly rotationLambdaArn?: string;
  readonly now: () => number;
}

/** One poll: where the version is, and (once it is AWSCURRENT) where each service's new deployment is. */
export class RotationWatch {
  private versionState: VersionState = 'starting';
  private seen = false;
  private expiresAt?: Date;
  private expiryNote?: string;
  private expiryRead = false;
  private promotedAt?: Date;
  /** The handler deferred this rotation (same token, no redeploy): when the watchdog rotates for real. */
  private deferredUntil?: Date;
  private services: ServiceProgress[];

  constructor(private readonly c: WatchConfig) {
    this.services = c.bound.arns.map((arn) => ({ arn, label: serviceLabel(arn), state: 'waiting' as const }));
  }

  async tick(): Promise<{ snapshot: WatchSnapshot; outcome?: Outcome }> {
    const secret = await describeManagedSecret(this.c.clients, this.c.secretId);
    const labels = secret.stages[this.c.versionId] ?? [];
    // Once promoted, it stays promoted for us: a newer rotation (the schedule, the watchdog) may
    // already have moved AWSCURRENT on, and its redeploys count just as well.
    if (this.versionState === 'AWSCURRENT' || labels.includes('AWSCURRENT') || labels.includes('AWSPREVIOUS')) {
      this.versionState = 'AWSCURRENT';
    } else if (labels.includes('AWSPENDING')) {
      this.versionState = 'AWSPENDING';
      this.seen = true;
    } else if (this.seen || this.c.now() - this.c.startedAt > VERSION_VISIBLE_GRACE_MS) {
      this.versionState = 'abandoned';
    }

    if (this.versionState === 'AWSCURRENT') {
      if (secret.promoted?.versionId === this.c.versionId) this.promotedAt = secret.promoted.at;
      // A deferred rotation promotes a copy of the current value and never writes the promoted tag.
      else if (secret.deferredUntil !== undefined) this.deferredUntil = secret.deferredUntil;
      if (!this.expiryRead) await this.readExpiry(secret);
      const snapshots = await describeServices(this.c.clients, this.c.bound.arns);
      this.services = this.services.map((s) => this.progressOf(s, snapshots.get(s.arn)));
    }
    const snapshot = this.snapshot();
    return { snapshot, outcome: this.outcome(snapshot) };
  }

  private async readExpiry(secret: ManagedSecret): Promise<void> {
    try {
      const info = await readCurrentValueInfo(this.c.clients, secret);
      this.expiryRead = true;
      if (info.versionId !== undefined && info.versionId !== this.c.versionId) {
        this.expiryNote = `AWSCURRENT is already another version (${shortId(info.versionId)})`;
      } else {
        this.expiresAt = info.expiresAt;
        if (!info.expiresAt) this.expiryNote = info.problem ?? 'no expiresAt in the new value';
      }
    } catch (err) {
      // Following a rotation does not need read access to the value: the expiry is only a detail.
      this.expiryRead = true;
      this.expiryNote = /Permission denied/.test((err as Error).message)
        ? 'not readable (needs secretsmanager:GetSecretValue)'
        : `not readable (${(err as Error).message})`;
    }
  }

  private progressOf(prev: ServiceProgress, snap: ServiceSnapshot | undefined): ServiceProgress {
    const base = { arn: prev.arn, label: prev.label };
    if (snap === undefined) return { ...base, state: 'gone', reason: 'not described' };
    if (snap.kind === 'gone') return { ...base, state: 'gone', reason: snap.reason };
    if (snap.kind === 'invalid') return { ...base, state: 'invalid', reason: snap.reason };
    const known = this.c.baseline.get(prev.arn) ?? new Set<string>();
    // The rotation's deployment: one not listed before RotateSecret and, when finishSecret recorded the
    // promotion time, started after it (a deployment started earlier still read the previous value).
    const fresh = snap.deployments.filter((d) => !known.has(d.id)
      && (this.promotedAt === undefined || d.createdAt === undefined || startedAfterPromotion(d.createdAt, this.promotedAt)));
    if (fresh.length === 0) return { ...base, state: 'waiting', reason: 'no new deployment yet' };
    const failed = fresh.find((d) => d.rolloutState === 'FAILED');
    if (failed) return { ...base, ...counts(failed), state: 'FAILED', reason: failed.rolloutStateReason ?? 'rollout failed' };
    const d = primaryDeployment(fresh) ?? fresh[0];
    return { ...base, ...counts(d), state: rolloutStateOf(d, snap.deployments), derived: d.rolloutState === undefined };
  }

  /** The state as of the last successful poll. */
  current(): WatchSnapshot {
    return this.snapshot();
  }

  private snapshot(): WatchSnapshot {
    const c = this.c;
    let servicesNote: string | undefined;
    if (c.bound.parameter === undefined) servicesNote = 'no bound services (the secret has no bound-services parameter tag)';
    else if (!c.bound.exists) servicesNote = `no bound services (parameter ${c.bound.parameter} does not exist yet)`;
    else if (c.bound.arns.length === 0) servicesNote = `no bound services (parameter ${c.bound.parameter} lists none)`;
    return {
      secretName: c.secretName,
      versionId: c.versionId,
      previousVersion: c.previousVersion,
      versionState: this.versionState,
      expiresAt: this.expiresAt,
      expiryNote: this.expiryNote,
      services: this.services,
      servicesNote,
      elapsedMs: c.now() - c.startedAt,
      timeoutMs: c.timeoutMs,
    };
  }

  private outcome(s: WatchSnapshot): Outcome | undefined {
    const fn = functionNameOf(this.c.rotationLambdaArn);
    const logs = fn ? `/aws/lambda/${fn}` : 'the rotation function\'s CloudWatch logs';
    const v = shortId(s.versionId);
    if (s.versionState === 'abandoned') {
      return {
        code: ExitCode.FAILED,
        message: `The rotation failed: version ${v} ${this.seen ? 'lost AWSPENDING' : 'never appeared'} without becoming AWSCURRENT `
          + `(it was cleared or cancelled). AWSCURRENT is unchanged. See ${logs} for the step that failed.`,
      };
    }
    if (s.versionState !== 'AWSCURRENT') return undefined;
    if (this.deferredUntil !== undefined) {
      return {
        code: ExitCode.OK,
        message: `Deferred: version ${v} is AWSCURRENT with the same token, because the last rotation's rollout may still be replacing `
          + `tasks (within rolloutAllowance of it). The watchdog rotates for real after ${isoSeconds(this.deferredUntil)}; `
          + 'no service was redeployed.',
      };
    }
    const failed = s.services.filter((x) => x.state === 'FAILED' || x.state === 'invalid');
    if (failed.length > 0) {
      const list = failed.map((x) => `${x.label} (${x.reason ?? x.state})`).join('; ');
      const first = failed[0].label.split('/');
      return {
        code: ExitCode.FAILED,
        message: `Deployment FAILED: ${list}. Version ${v} is AWSCURRENT, but tasks of ${failed.length === 1 ? 'that service' : 'those services'} `
          + 'may still run with the previous token until they are replaced. Fix the cause (see the service\'s events), then start a new deployment: '
          + `aws ecs update-service --cluster ${first[0]} --service ${first[1] ?? failed[0].arn} --force-new-deployment`,
      };
    }
    if (s.services.every((x) => x.state === 'COMPLETED' || x.state === 'gone')) {
      const completed = s.services.filter((x) => x.state === 'COMPLETED').length;
      const gone = s.services.length - completed;
      const svc = s.services.length === 0
        ? (s.servicesNote ?? 'no bound services')
        : `${completed} of ${s.services.length} bound service${s.services.length === 1 ? '' : 's'} completed a new deployment${gone ? ` (${gone} gone, skipped)` : ''}`;
      return {
        code: ExitCode.OK,
        message: `Done in ${formatDuration(s.elapsedMs)}: version ${v} is AWSCURRENT`
          + `${s.expiresAt ? ` (token expires ${isoSeconds(s.expiresAt)})` : ''}; ${svc}.`,
      };
    }
    return undefined;
  }

  timeoutOutcome(s: WatchSnapshot): Outcome {
    const fn = functionNameOf(this.c.rotationLambdaArn);
    const logs = fn ? `/aws/lambda/${fn}` : 'the rotation function\'s CloudWatch logs';
    const v = shortId(s.versionId);
    const after = `Timed out after ${formatDuration(s.timeoutMs)}`;
    const follow = `Nothing was stopped: it goes on in AWS. Follow it with cdk-dsql-url-secret status --secret-id ${this.c.secretId}`;
    if (s.versionState !== 'AWSCURRENT') {
      return {
        code: ExitCode.TIMEOUT,
        message: `${after}: version ${v} is still ${s.versionState === 'starting' ? 'not visible' : 'AWSPENDING'}. ${follow}. `
          + `If it stays AWSPENDING, the rotation function is failing: see ${logs}.`,
      };
    }
    const waiting = s.services.filter((x) => x.state === 'waiting');
    const rolling = s.services.filter((x) => x.state === 'IN_PROGRESS');
    const parts: string[] = [];
    if (rolling.length) parts.push(`${rolling.length} still rolling out (${rolling.map((x) => `${x.label} ${x.running ?? '?'}/${x.desired ?? '?'}`).join(', ')})`);
    if (waiting.length) {
      parts.push(`${waiting.length} without a new deployment yet (${waiting.map((x) => x.label).join(', ')}; `
        + `finishSecret may have failed to redeploy ${waiting.length === 1 ? 'it' : 'them'}: see ${logs})`);
    }
    return { code: ExitCode.TIMEOUT, message: `${after}: version ${v} is AWSCURRENT, but ${parts.join(' and ')}. ${follow}.` };
  }
}

function counts(d: DeploymentSnapshot): Pick<ServiceProgress, 'deploymentId' | 'running' | 'desired'> {
  return { deploymentId: d.id, running: d.runningCount, desired: d.desiredCount };
}
