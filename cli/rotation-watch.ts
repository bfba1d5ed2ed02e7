/**
 * The rollout watch of `rotate --wait`: each poll reads where the new version
 * is (AWSPENDING, AWSCURRENT, or abandoned) and, once it is AWSCURRENT, where
 * each bound service's new deployment is (its ECS deployment, or for a
 * CODE_DEPLOY service bound with its group, its CodeDeploy deployment); it
 * says when that ends the wait (done, deferred, failed) and what to tell the
 * user when the timeout passes.
 */
import { startedAfterPromotion } from '../core/ecs-services';
import { Clients } from './aws';
import { formatDuration } from './duration';
import { ExitCode } from './errors';
import { isoSeconds, shortId } from './format';
import { rotationLogGroup } from './rotation-function';
import { describeManagedSecret, ManagedSecret, readCurrentValueInfo } from './secret';
import {
  BoundServices,
  CodeDeploySnapshot,
  DeploymentSnapshot,
  describeCodeDeployments,
  describeServices,
  primaryDeployment,
  rolloutStateOf,
  serviceLabel,
  ServiceSnapshot,
} from './services';
import { Outcome, ServiceProgress, VersionState, WatchSnapshot } from './watch-report';

/** How long a version may stay invisible after RotateSecret returned before it counts as abandoned. */
export const VERSION_VISIBLE_GRACE_MS = 30_000;

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
  private logGroup?: Promise<string | undefined>;

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
      const targets = this.c.bound.codeDeploy ?? new Map();
      // The rotation's CodeDeploy deployment is created after the promotion, which the promoted tag records.
      const deployments =
        targets.size > 0 && this.promotedAt !== undefined
          ? await describeCodeDeployments(this.c.clients, targets, this.promotedAt)
          : new Map<string, CodeDeploySnapshot | undefined>();
      this.services = this.services.map((s) =>
        targets.has(s.arn)
          ? this.codeDeployProgressOf(s, snapshots.get(s.arn), deployments.get(s.arn))
          : this.progressOf(s, snapshots.get(s.arn)),
      );
    }
    const snapshot = this.snapshot();
    return { snapshot, outcome: await this.outcome(snapshot) };
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
    const fresh = snap.deployments.filter(
      (d) =>
        !known.has(d.id) &&
        (this.promotedAt === undefined || d.createdAt === undefined || startedAfterPromotion(d.createdAt, this.promotedAt)),
    );
    if (fresh.length === 0) return { ...base, state: 'waiting', reason: 'no new deployment yet' };
    const failed = fresh.find((d) => d.rolloutState === 'FAILED');
    if (failed) return { ...base, ...counts(failed), state: 'FAILED', reason: failed.rolloutStateReason ?? 'rollout failed' };
    const d = primaryDeployment(fresh) ?? fresh[0];
    return { ...base, ...counts(d), state: rolloutStateOf(d, snap.deployments), derived: d.rolloutState === undefined };
  }

  /**
   * A CODE_DEPLOY service's rollout is its CodeDeploy deployment created since the promotion:
   * Succeeded completes it, Failed or Stopped fails it, any other status is in progress.
   */
  private codeDeployProgressOf(
    prev: ServiceProgress,
    snap: ServiceSnapshot | undefined,
    d: CodeDeploySnapshot | undefined,
  ): ServiceProgress {
    if (snap?.kind === 'gone' || snap?.kind === 'invalid') return this.progressOf(prev, snap);
    if (d === undefined) return { arn: prev.arn, label: prev.label, state: 'waiting', reason: 'no CodeDeploy deployment yet' };
    // The task counts shown are those of the replacement task set the deployment started (created after it).
    const started = d.createdAt?.getTime() ?? Infinity;
    const green = snap?.taskSets
      ?.filter((t) => (t.createdAt?.getTime() ?? -Infinity) >= started)
      .sort((a, b) => a.createdAt!.getTime() - b.createdAt!.getTime())
      .pop();
    const base = { arn: prev.arn, label: prev.label, deploymentId: d.id, running: green?.runningCount, desired: green?.desiredCount };
    if (d.status === 'Succeeded') return { ...base, state: 'COMPLETED' };
    if (d.status === 'Failed' || d.status === 'Stopped') {
      return { ...base, state: 'FAILED', reason: `CodeDeploy deployment ${d.status}${d.error ? `: ${d.error}` : ''}` };
    }
    return { ...base, state: 'IN_PROGRESS', reason: `CodeDeploy ${d.status}` };
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

  /** The rotation function's log group, looked up once and only for a message that names it. */
  private async logs(): Promise<string> {
    this.logGroup ??= rotationLogGroup(this.c.clients, this.c.rotationLambdaArn);
    return (await this.logGroup) ?? "the rotation function's CloudWatch logs";
  }

  private async outcome(s: WatchSnapshot): Promise<Outcome | undefined> {
    const v = shortId(s.versionId);
    if (s.versionState === 'abandoned') {
      const logs = await this.logs();
      return {
        code: ExitCode.FAILED,
        message:
          `The rotation failed: version ${v} ${this.seen ? 'lost AWSPENDING' : 'never appeared'} without becoming AWSCURRENT ` +
          `(it was cleared or cancelled). AWSCURRENT is unchanged. See ${logs} for the step that failed.`,
      };
    }
    if (s.versionState !== 'AWSCURRENT') return undefined;
    if (this.deferredUntil !== undefined) {
      return {
        code: ExitCode.OK,
        message:
          `Deferred: version ${v} is AWSCURRENT with the same token, because the last rotation's rollout may still be replacing ` +
          `tasks (within rolloutAllowance of it). The watchdog rotates for real after ${isoSeconds(this.deferredUntil)}; ` +
          'no service was redeployed.',
      };
    }
    const failed = s.services.filter((x) => x.state === 'FAILED' || x.state === 'invalid');
    if (failed.length > 0) {
      const list = failed.map((x) => `${x.label} (${x.reason ?? x.state})`).join('; ');
      const first = failed[0].label.split('/');
      const group = this.c.bound.codeDeploy?.get(failed[0].arn);
      // ECS refuses forceNewDeployment for a CODE_DEPLOY service: a new CodeDeploy deployment replaces its tasks.
      const again = group
        ? `a new CodeDeploy deployment in ${group.application}/${group.deploymentGroup} (aws deploy create-deployment ` +
          `--application-name ${group.application} --deployment-group-name ${group.deploymentGroup} with the service's AppSpec), ` +
          'or rotate again'
        : `a new deployment: aws ecs update-service --cluster ${first[0]} --service ${first[1] ?? failed[0].arn} --force-new-deployment`;
      return {
        code: ExitCode.FAILED,
        message:
          `Deployment FAILED: ${list}. Version ${v} is AWSCURRENT, but tasks of ${failed.length === 1 ? 'that service' : 'those services'} ` +
          `may still run with the previous token until they are replaced. Fix the cause (see the service's events), then start ${again}`,
      };
    }
    if (s.services.every((x) => x.state === 'COMPLETED' || x.state === 'gone')) {
      const completed = s.services.filter((x) => x.state === 'COMPLETED').length;
      const gone = s.services.length - completed;
      const svc =
        s.services.length === 0
          ? (s.servicesNote ?? 'no bound services')
          : `${completed} of ${s.services.length} bound service${s.services.length === 1 ? '' : 's'} completed a new ` +
            `deployment${gone ? ` (${gone} gone, skipped)` : ''}`;
      return {
        code: ExitCode.OK,
        message:
          `Done in ${formatDuration(s.elapsedMs)}: version ${v} is AWSCURRENT` +
          `${s.expiresAt ? ` (token expires ${isoSeconds(s.expiresAt)})` : ''}; ${svc}.`,
      };
    }
    return undefined;
  }

  async timeoutOutcome(s: WatchSnapshot): Promise<Outcome> {
    const v = shortId(s.versionId);
    const after = `Timed out after ${formatDuration(s.timeoutMs)}`;
    const follow = `Nothing was stopped: it goes on in AWS. Follow it with cdk-dsql-url-secret status --secret-id ${this.c.secretId}`;
    if (s.versionState !== 'AWSCURRENT') {
      return {
        code: ExitCode.TIMEOUT,
        message:
          `${after}: version ${v} is still ${s.versionState === 'starting' ? 'not visible' : 'AWSPENDING'}. ${follow}. ` +
          `If it stays AWSPENDING, the rotation function is failing: see ${await this.logs()}.`,
      };
    }
    const waiting = s.services.filter((x) => x.state === 'waiting');
    const rolling = s.services.filter((x) => x.state === 'IN_PROGRESS');
    const parts: string[] = [];
    if (rolling.length)
      parts.push(
        `${rolling.length} still rolling out (${rolling.map((x) => `${x.label} ${x.running ?? '?'}/${x.desired ?? '?'}`).join(', ')})`,
      );
    if (waiting.length) {
      parts.push(
        `${waiting.length} without a new deployment yet (${waiting.map((x) => x.label).join(', ')}; ` +
          `finishSecret may have failed to redeploy ${waiting.length === 1 ? 'it' : 'them'}: see ${await this.logs()})`,
      );
    }
    return { code: ExitCode.TIMEOUT, message: `${after}: version ${v} is AWSCURRENT, but ${parts.join(' and ')}. ${follow}.` };
  }
}

function counts(d: DeploymentSnapshot): Pick<ServiceProgress, 'deploymentId' | 'running' | 'desired'> {
  return { deploymentId: d.id, running: d.runningCount, desired: d.desiredCount };
}
