/** `status`: what the secret and its bound services look like now. */
import { parseServiceArn } from '../core/ecs-services';
import { CurrentToken, fleetHistoryOf } from '../core/fleet';
import { ecsFleetPort } from '../core/fleet-ecs-port';
import { FleetSurvey, surveyFleet } from '../core/fleet-survey';
import { rotatesByScheduler } from '../lib/rotation-schedule-kind';
import { Clients } from './aws';
import { formatDuration, relative } from './duration';
import { isoSeconds, shortDeploymentId, shortId, table } from './format';
import { ExpiryState, fleetLines, ServiceFleetStatus } from './render';
import { functionNameOf, rotationLogGroup } from './rotation-function';
import { CurrentValueInfo, describeManagedSecret, ManagedSecret, readCurrentValueInfo, versionCreationDates } from './secret';
import { expiry, serviceFleetStatus } from './status-fleet';
import { describeServices, loadBoundServices, primaryDeployment, rolloutStateOf, rolloutStateSource, ServiceSnapshot } from './services';

export interface ServiceStatus {
  readonly arn: string;
  readonly cluster?: string;
  readonly name?: string;
  /** found: described; gone: deleted or inactive; invalid: not a long-format service ARN. */
  readonly state: 'found' | 'gone' | 'invalid';
  readonly reason?: string;
  readonly deployment?: {
    readonly id: string;
    readonly rolloutState: string;
    /** `ecs`: ECS reported rolloutState; `counts`: derived from the task counts (ECS did not report it). */
    readonly rolloutStateSource: 'ecs' | 'counts';
    readonly runningCount: number;
    readonly desiredCount: number;
    readonly createdAt: string | null;
    /** Started after the current version was promoted: its tasks read the current URL. null when unknown. */
    readonly startedAfterRotation: boolean | null;
  };
  /** Deployments ECS lists (PRIMARY plus any still draining). */
  readonly deployments: number;
  /** Its running tasks by the token they hold (the fleet survey, core/fleet-survey.ts); null for an invalid ARN. */
  readonly fleet: ServiceFleetStatus | null;
}

/** The machine-readable status (`status --json`). Holds no token, password or URL. */
export interface StatusReport {
  readonly checkedAt: string;
  readonly secret: { readonly name: string; readonly arn: string; readonly managedBy: string };
  readonly currentVersion: { readonly id: string; readonly shortId: string } | null;
  readonly rotatedAt: string | null;
  /** `promoted-tag`: the time finishSecret promoted this version; `LastRotatedDate`: Secrets Manager's date. */
  readonly rotatedAtSource: 'promoted-tag' | 'LastRotatedDate' | null;
  readonly token: {
    /** placeholder: no token yet (the first rotation has not completed). */
    readonly state: 'valid' | 'expired' | 'placeholder' | 'unknown';
    readonly issuedAt: string | null;
    readonly expiresAt: string | null;
    readonly secondsLeft: number | null;
    readonly host: string | null;
    readonly username: string | null;
    readonly problem: string | null;
  };
  readonly rotation: {
    readonly enabled: boolean;
    readonly functionArn: string | null;
    readonly nextRotation:
      | { readonly source: 'secrets-manager'; readonly at: string }
      | { readonly source: 'eventbridge-scheduler'; readonly everySeconds: number; readonly every: string }
      | null;
    readonly inProgress: boolean;
    readonly pendingVersion: { readonly id: string; readonly shortId: string; readonly createdAt: string | null } | null;
    /** The rotation function's log group (its logging configuration), read only while a rotation is in progress. */
    readonly logGroup: string | null;
    /** A deferred rotation: the watchdog rotates for real after this time. */
    readonly deferredUntil: string | null;
  };
  readonly boundServices: {
    readonly parameter: string | null;
    readonly parameterExists: boolean;
    readonly services: readonly ServiceStatus[];
  };
  /** The fleet over every bound service (per service in boundServices.services[].fleet). */
  readonly fleet: {
    /** The earliest expiry of a token any running task holds, AWSCURRENT's included; state null: no token and no task yet. */
    readonly oldestExpiresAt: string | null;
    readonly oldestState: ExpiryState | null;
    /** ECS calls the survey made (DescribeServices; ListTasks/DescribeTasks for services mid-rollout). */
    readonly calls: number;
  };
}

export async function collectStatus(clients: Clients, secretId: string, now: () => number = Date.now): Promise<StatusReport> {
  const secret = await describeManagedSecret(clients, secretId);
  const [value, bound] = await Promise.all([
    readCurrentValueInfo(clients, secret),
    loadBoundServices(clients, secret.boundServicesParameter),
  ]);
  const snapshots = await describeServices(clients, bound.arns);
  const { issuedAt, expiresAt } = value;
  const token: CurrentToken | undefined = !value.placeholder && issuedAt && expiresAt ? { issuedAt, expiresAt } : undefined;
  // One service's failed call marks only that service: status still shows the rest.
  const survey = await surveyFleet(
    ecsFleetPort(clients.ecs),
    bound.arns,
    fleetHistoryOf(secret.promotionHistory, secret.rotationState, token),
  );
  const created = secret.pendingVersion ? await versionCreationDates(clients, secret.arn) : new Map<string, Date>();
  const logGroup = secret.pendingVersion ? await rotationLogGroup(clients, secret.rotationLambdaArn) : undefined;
  return buildStatus({
    secret,
    value,
    parameter: bound.parameter,
    parameterExists: bound.exists,
    arns: bound.arns,
    snapshots,
    created,
    survey,
    logGroup,
    now: now(),
  });
}

export interface StatusInputs {
  readonly secret: ManagedSecret;
  readonly value: CurrentValueInfo;
  readonly parameter?: string;
  readonly parameterExists: boolean;
  readonly arns: readonly string[];
  readonly snapshots: ReadonlyMap<string, ServiceSnapshot>;
  readonly created: ReadonlyMap<string, Date>;
  readonly survey: FleetSurvey;
  readonly logGroup?: string;
  readonly now: number;
}

export function buildStatus(i: StatusInputs): StatusReport {
  const { secret, value, now } = i;
  const current = secret.currentVersion;
  const promotedAt = secret.promoted !== undefined && secret.promoted.versionId === current ? secret.promoted.at : undefined;
  const rotatedAt = promotedAt ?? secret.lastRotatedDate;
  let tokenState: StatusReport['token']['state'] = 'unknown';
  if (value.placeholder) tokenState = 'placeholder';
  else if (value.expiresAt) tokenState = value.expiresAt.getTime() > now ? 'valid' : 'expired';

  let nextRotation: StatusReport['rotation']['nextRotation'] = null;
  // Under EventBridge Scheduler, Secrets Manager reports the parked native rule's date, 1,000 days out: not the next rotation.
  const scheduled = secret.rotationIntervalSeconds !== undefined && rotatesByScheduler(secret.rotationIntervalSeconds);
  if (secret.nextRotationDate && !scheduled) {
    nextRotation = { source: 'secrets-manager', at: secret.nextRotationDate.toISOString() };
  } else if (secret.rotationIntervalSeconds) {
    nextRotation = {
      source: 'eventbridge-scheduler',
      everySeconds: secret.rotationIntervalSeconds,
      every: formatDuration(secret.rotationIntervalSeconds * 1000),
    };
  }

  const fleets = new Map(i.survey.services.map((f) => [f.serviceArn, f]));
  const services: ServiceStatus[] = i.arns.map((arn) => {
    const parsed = parseServiceArn(arn);
    const fleet = parsed ? serviceFleetStatus(fleets.get(arn), now) : null;
    const base = { arn, cluster: parsed?.cluster, name: parsed?.name, fleet };
    const snap = i.snapshots.get(arn);
    if (snap === undefined) return { ...base, state: 'gone', reason: 'not described', deployments: 0 };
    if (snap.kind !== 'found') return { ...base, state: snap.kind, reason: snap.reason, deployments: 0 };
    const primary = primaryDeployment(snap.deployments);
    return {
      ...base,
      state: 'found',
      deployments: snap.deployments.length,
      deployment: primary && {
        id: primary.id,
        rolloutState: rolloutStateOf(primary, snap.deployments),
        rolloutStateSource: rolloutStateSource(primary),
        runningCount: primary.runningCount,
        desiredCount: primary.desiredCount,
        createdAt: primary.createdAt?.toISOString() ?? null,
        startedAfterRotation: primary.createdAt && promotedAt ? primary.createdAt.getTime() >= promotedAt.getTime() : null,
      },
    };
  });

  return {
    checkedAt: new Date(now).toISOString(),
    secret: { name: secret.name, arn: secret.arn, managedBy: secret.managedBy },
    currentVersion: current ? { id: current, shortId: shortId(current) } : null,
    rotatedAt: rotatedAt?.toISOString() ?? null,
    rotatedAtSource: promotedAt ? 'promoted-tag' : secret.lastRotatedDate ? 'LastRotatedDate' : null,
    token: {
      state: tokenState,
      issuedAt: value.issuedAt?.toISOString() ?? null,
      expiresAt: value.expiresAt?.toISOString() ?? null,
      secondsLeft: value.expiresAt ? Math.round((value.expiresAt.getTime() - now) / 1000) : null,
      host: value.host ?? null,
      username: value.username ?? null,
      problem: value.problem ?? null,
    },
    rotation: {
      enabled: secret.rotationEnabled,
      functionArn: secret.rotationLambdaArn ?? null,
      nextRotation,
      inProgress: secret.pendingVersion !== undefined,
      pendingVersion: secret.pendingVersion
        ? {
            id: secret.pendingVersion,
            shortId: shortId(secret.pendingVersion),
            createdAt: i.created.get(secret.pendingVersion)?.toISOString() ?? null,
          }
        : null,
      deferredUntil: secret.deferredUntil?.toISOString() ?? null,
      logGroup: i.logGroup ?? null,
    },
    boundServices: { parameter: i.parameter ?? null, parameterExists: i.parameterExists, services },
    fleet: { ...expiry(i.survey.oldestExpiresAt, now), calls: i.survey.calls },
  };
}

const at = (iso: string, now: number) => `${isoSeconds(new Date(iso))} (${relative(new Date(iso), now)})`;

/** The human-readable status. */
export function formatStatus(r: StatusReport): string[] {
  const now = Date.parse(r.checkedAt);
  const rows: string[][] = [];
  rows.push(['Secret', `${r.secret.name}`]);
  rows.push(['ARN', r.secret.arn]);
  rows.push(['Managed by', r.secret.managedBy]);
  rows.push(['Current version', r.currentVersion ? r.currentVersion.shortId : 'none (no AWSCURRENT version)']);
  rows.push([
    'Rotated',
    r.rotatedAt ? `${at(r.rotatedAt, now)}${r.rotatedAtSource === 'promoted-tag' ? '' : ' (LastRotatedDate)'}` : 'unknown',
  ]);
  const t = r.token;
  let token: string;
  if (t.state === 'placeholder') token = 'no token yet: AWSCURRENT is the placeholder (the first rotation has not completed)';
  else if (t.state === 'unknown') token = `unknown: ${t.problem ?? 'no expiresAt'}`;
  else if (t.state === 'expired') token = `EXPIRED at ${at(t.expiresAt!, now)}: rotate now (rotate --wait)`;
  else token = `${isoSeconds(new Date(t.expiresAt!))} (${formatDuration(t.secondsLeft! * 1000)} left)`;
  rows.push(['Token expires', token]);
  if (t.host) rows.push(['Endpoint', `${t.host}${t.username ? ` as ${t.username}` : ''}`]);
  const next = r.rotation.nextRotation;
  rows.push([
    'Next rotation',
    next === null
      ? 'none scheduled'
      : next.source === 'secrets-manager'
        ? at(next.at, now)
        : `every ${next.every} via EventBridge Scheduler (no Secrets Manager schedule)`,
  ]);
  const fn = functionNameOf(r.rotation.functionArn);
  rows.push(['Rotation', `${r.rotation.enabled ? 'enabled' : 'DISABLED'}${fn ? `, function ${fn}` : ''}`]);
  const p = r.rotation.pendingVersion;
  rows.push([
    'In progress',
    p
      ? `yes: version ${p.shortId} is AWSPENDING${p.createdAt ? ` (started ${relative(new Date(p.createdAt), now)})` : ''}; ` +
        `if it stays so, the rotation function is failing: see ${r.rotation.logGroup ?? 'its CloudWatch logs'}`
      : 'no',
  ]);
  if (r.rotation.deferredUntil) {
    rows.push([
      'Deferred',
      `a rotation within rolloutAllowance of the last one was deferred; the watchdog rotates after ${r.rotation.deferredUntil}`,
    ]);
  }
  const b = r.boundServices;
  let boundLine: string;
  if (b.parameter === null) boundLine = 'no bound services (the secret has no bound-services parameter tag)';
  else if (!b.parameterExists) boundLine = `no bound services (parameter ${b.parameter} does not exist yet)`;
  else if (b.services.length === 0) boundLine = `no bound services (parameter ${b.parameter} lists none)`;
  else boundLine = `${b.services.length} (from ${b.parameter})`;
  rows.push(['Bound services', boundLine]);
  const lines = table(rows.map(([k, v]) => [`${k}:`, v]));
  if (b.services.length > 0) {
    lines.push('');
    const header = ['SERVICE', 'DEPLOYMENT', 'ROLLOUT', 'TASKS', 'STARTED', 'AFTER ROTATION'];
    const body = b.services.map((s) => {
      const label = s.cluster ? `${s.cluster}/${s.name}` : s.arn;
      if (s.state !== 'found') return [label, '-', s.state === 'gone' ? `gone: ${s.reason}` : `invalid: ${s.reason}`, '-', '-', '-'];
      const d = s.deployment;
      if (!d) return [label, '-', 'no deployment listed', '-', '-', '-'];
      return [
        label,
        shortDeploymentId(d.id),
        `${d.rolloutState}${d.rolloutStateSource === 'counts' ? '*' : ''}${s.deployments > 1 ? ` (+${s.deployments - 1} draining)` : ''}`,
        `${d.runningCount}/${d.desiredCount}`,
        d.createdAt ? relative(new Date(d.createdAt), now) : '-',
        d.startedAfterRotation === null ? '?' : d.startedAfterRotation ? 'yes' : 'no',
      ];
    });
    lines.push(...table([header, ...body]).map((l) => `  ${l}`));
    if (b.services.some((s) => s.deployment?.rolloutStateSource === 'counts')) {
      lines.push('  * ECS reported no rolloutState: derived from the task counts');
    }
    lines.push('', ...fleetLines(r, now));
  }
  return lines;
}
