/**
 * The watchdog's fleet check: which token each running task of the bound
 * services holds (core/fleet-survey.ts), a forced deployment for a service
 * whose old tasks outlived rolloutAllowance, and the metrics the fleet-token
 * alarm watches. It reads no secret value: only identifiers, counts and dates
 * reach its logs.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { describeInvalidEntry } from '../core/bound-services';
import { parseServiceArn } from '../core/ecs-services';
import { CurrentToken, fleetHistoryOf, healAfter, healDue } from '../core/fleet';
import { ecsFleetPort } from '../core/fleet-ecs-port';
import { ServiceFleet, surveyFleet } from '../core/fleet-survey';
import { rotationStateOf, SecretMetadata } from '../core/rotation-state';
import { CodeDeployTarget, MetricName, WatchdogFunctionConfig } from '../lib/contract';
import { PromotionHistoryTag, PromotionRecord } from '../lib/secret-tags';
import { codeDeployPath } from './codedeploy-redeploy';
import { BoundServicesLoad, forgetBoundServices, loadBoundServices } from './fleet-bound-services';
import { log } from './log';
import { emitMetrics, MetricDatum } from './metrics';
import { homeOf, redeployServices } from './redeploy';
import { DEFAULT_RETRY, RetryPolicy, withRetry } from './retry';

/**
 * Fewer and shorter retries than the rotation function's: the watchdog has a
 * short timeout and runs again one interval later.
 */
export const FLEET_CHECK_RETRY: RetryPolicy = { ...DEFAULT_RETRY, maxAttempts: 5, maxDelayMs: 2_000 };

export interface FleetCheckInput {
  readonly ssm: SSMClient;
  readonly ecs: ECSClient;
  readonly config: WatchdogFunctionConfig;
  readonly secretArn: string;
  /** The DescribeSecret answer the token check read: stages and tags. */
  readonly metadata: SecretMetadata;
  /** AWSCURRENT's issuedAt and expiresAt; undefined when it holds no token. */
  readonly current: CurrentToken | undefined;
  readonly now: Date;
  readonly retry?: RetryPolicy;
}

/** What the fleet check saw and did, in WatchdogResult. */
export interface FleetSummary {
  /** Bound services read from the parameters. */
  readonly services: number;
  /** Services whose tasks were listed (some deployment older than the promotion). */
  readonly drilledDown: number;
  /** Running tasks started before the current promotion, and the services that run any. */
  readonly staleTasks: number;
  readonly staleServices: number;
  /** The earliest expiry a running task holds (ISO); null: a task's token is unknown; undefined: no token yet, or not known. */
  readonly oldestExpiresAt?: string | null;
  /** FleetTokenSecondsLeft as emitted; undefined when it was not emitted. */
  readonly secondsLeft?: number;
  /** Services that got a forced deployment now. */
  readonly healed: string[];
  /** Services healed for this promotion already and still running old tasks. */
  readonly stillStale: string[];
  /** Services the survey or the heal could not handle, and bound-services entries that are not service ARNs. */
  readonly failed: string[];
  readonly ssmCalls: number;
  /** Whether the bound services came from an earlier invocation's read of the parameters (functions/fleet-bound-services.ts). */
  readonly servicesCached: boolean;
  /** ECS calls of the survey (a heal's DescribeServices and UpdateService calls not included). */
  readonly ecsCalls: number;
  /** Why the check stopped before the end (the parameters could not be read). */
  readonly error?: string;
}

/**
 * Runs the fleet check. Never throws: what failed is in `failed` and `error`,
 * for the watchdog to fail its invocation once everything else is done.
 * Emits FleetTokenSecondsLeft (when the secret holds a token), StaleTasks (per
 * secret, and per service with stale tasks) and FleetHealsStarted, unless the
 * bound services could not be read at all.
 */
export async function checkFleet(input: FleetCheckInput): Promise<FleetSummary> {
  const retry = input.retry ?? FLEET_CHECK_RETRY;
  let ssmCalls = 0;
  let loaded: BoundServicesLoad;
  try {
    loaded = await loadBoundServices(input.ssm, input.config, input.now, retry, () => {
      ssmCalls++;
    });
  } catch (err) {
    const error = errorText(err);
    log.error('fleet check: could not read the bound services', { secretArn: input.secretArn, error });
    return { ...empty(), ssmCalls, error: `reading the bound services parameters failed (${error})` };
  }
  const { bound } = loaded;
  for (const entry of bound.invalid) {
    log.error('fleet check: a bound-services entry is not a service ARN; its tasks are not checked', {
      entry: describeInvalidEntry(entry),
    });
  }

  try {
    return await surveyAndHeal(input, loaded, retry, ssmCalls);
  } catch (err) {
    // surveyFleet and redeployServices record their failures per service; this is a bug's last line of defence.
    const error = errorText(err);
    log.error('fleet check: failed', { secretArn: input.secretArn, error });
    return { ...empty(), services: bound.arns.length, ssmCalls, servicesCached: loaded.fromCache, error };
  }
}

async function surveyAndHeal(
  input: FleetCheckInput,
  { bound, fromCache }: BoundServicesLoad,
  retry: RetryPolicy,
  ssmCalls: number,
): Promise<FleetSummary> {
  const { config, now } = input;
  const recorded = PromotionHistoryTag.decode(input.metadata.Tags?.find((t) => t.Key === PromotionHistoryTag.key)?.Value);
  const history = fleetHistoryOf(recorded, rotationStateOf(input.metadata), input.current);
  const survey = await surveyFleet(
    ecsFleetPort(input.ecs, (call) => withRetry(call, retry)),
    bound.arns,
    history,
  );
  // A bound service ECS no longer knows may have been replaced (a new ARN in the parameters): read them next time.
  if (survey.services.some((s) => s.state === 'gone')) forgetBoundServices();
  const stale = survey.services.filter((s) => s.staleTasks > 0);
  for (const s of stale) {
    log.warn('fleet check: service runs tasks started before the current promotion', { ...serviceFields(s, now) });
  }

  const heal = await healStuckServices(input, survey.services, history[0], retry, bound.codeDeploy);
  const failed = [
    ...survey.services.filter((s) => s.state === 'failed').map((s) => s.serviceArn),
    ...heal.failed,
    ...bound.invalid.map(describeInvalidEntry),
  ];
  // null (a task's token is unknown) counts as expired: 0 seconds left.
  const secondsLeft =
    history.length === 0 ? undefined : survey.oldestExpiresAt ? Math.round((survey.oldestExpiresAt.getTime() - now.getTime()) / 1000) : 0;
  const staleTasks = stale.reduce((n, s) => n + s.staleTasks, 0);
  emitFleetMetrics(config.metricDimension, now, { secondsLeft, staleTasks, healsStarted: heal.healed.length, stale });

  const summary: FleetSummary = {
    services: bound.arns.length,
    drilledDown: survey.drilledDown,
    staleTasks,
    staleServices: stale.length,
    oldestExpiresAt: survey.oldestExpiresAt === null ? null : survey.oldestExpiresAt?.toISOString(),
    secondsLeft,
    healed: heal.healed,
    stillStale: heal.stillStale,
    failed,
    ssmCalls,
    servicesCached: fromCache,
    ecsCalls: survey.calls,
  };
  const { healed, stillStale, failed: failedList, oldestExpiresAt, ...counts } = summary;
  (failed.length > 0 || stillStale.length > 0 ? log.error : stale.length > 0 ? log.warn : log.info)('fleet check: summary', {
    secretArn: input.secretArn,
    ...counts,
    oldestExpiresAt: oldestExpiresAt === null ? 'unknown' : oldestExpiresAt,
    healed: healed.length,
    stillStale: stillStale.length,
    failed: failedList.length,
    promotedVersionId: history[0]?.versionId,
    promotedAt: history[0]?.promotedAt.toISOString(),
  });
  return summary;
}

/**
 * One more forced deployment for each service whose old tasks outlived
 * rolloutAllowance (healDue). redeployServices skips a service with a
 * deployment started at or after healAfter: it was healed for this promotion
 * already (by an earlier run, or by its team), so a service is healed once per
 * promotion, and one that stays stale is an error in the log and in the
 * StaleTasks metric, never a deployment loop.
 */
async function healStuckServices(
  input: FleetCheckInput,
  fleets: readonly ServiceFleet[],
  promotion: PromotionRecord | undefined,
  retry: RetryPolicy,
  codeDeployTargets: ReadonlyMap<string, CodeDeployTarget>,
): Promise<{ healed: string[]; stillStale: string[]; failed: string[] }> {
  const rolloutAllowanceSeconds = input.config.rolloutAllowanceSeconds;
  if (promotion === undefined) return { healed: [], stillStale: [], failed: [] };
  const due = fleets.filter((s) =>
    healDue({ now: input.now, promotedAt: promotion.promotedAt, rolloutAllowanceSeconds, staleTasks: s.staleTasks }),
  );
  if (due.length === 0) return { healed: [], stillStale: [], failed: [] };
  const after = healAfter(promotion.promotedAt, rolloutAllowanceSeconds);
  const report = await redeployServices(
    input.ecs,
    due.map((s) => s.serviceArn),
    {
      promotedAt: after,
      concurrency: input.config.redeployConcurrency,
      retry,
      home: homeOf(input.secretArn),
      // A CODE_DEPLOY service is healed with a CodeDeploy deployment in the group it was bound with, as finishSecret redeploys it.
      codeDeploy: codeDeployPath(codeDeployTargets, retry),
    },
  );
  const why = {
    promotedVersionId: promotion.versionId,
    promotedAt: promotion.promotedAt.toISOString(),
    healAfter: after.toISOString(),
    secondsSincePromotion: Math.round((input.now.getTime() - promotion.promotedAt.getTime()) / 1000),
    rolloutAllowanceSeconds,
  };
  const byArn = new Map(due.map((s) => [s.serviceArn, s]));
  for (const arn of report.redeployed) {
    log.warn('fleet check: healed a service: its tasks started before the promotion outlived rolloutAllowance', {
      ...serviceFields(byArn.get(arn)!, input.now),
      ...why,
    });
  }
  for (const arn of report.alreadyCurrent) {
    log.error('fleet check: service still stale after its heal: a deployment started after healAfter, yet old tasks run', {
      ...serviceFields(byArn.get(arn)!, input.now),
      ...why,
    });
  }
  return { healed: report.redeployed, stillStale: report.alreadyCurrent, failed: report.failed.map((f) => f.serviceArn) };
}

function emitFleetMetrics(
  dimension: string,
  now: Date,
  m: { secondsLeft: number | undefined; staleTasks: number; healsStarted: number; stale: readonly ServiceFleet[] },
): void {
  const data: MetricDatum[] = [
    { name: MetricName.STALE_TASKS, value: m.staleTasks, unit: 'Count' },
    { name: MetricName.FLEET_HEALS_STARTED, value: m.healsStarted, unit: 'Count' },
  ];
  if (m.secondsLeft !== undefined) data.unshift({ name: MetricName.FLEET_TOKEN_SECONDS_LEFT, value: m.secondsLeft, unit: 'Seconds' });
  emitMetrics(dimension, data, now);
  for (const s of m.stale) {
    emitMetrics(dimension, [{ name: MetricName.STALE_TASKS, value: s.staleTasks, unit: 'Count' }], now, serviceName(s.serviceArn));
  }
}

/** `<cluster>/<service>`: unique in the account and region, and far shorter than the ARN. */
export function serviceName(serviceArn: string): string {
  const parts = parseServiceArn(serviceArn);
  return parts === undefined ? serviceArn : `${parts.cluster}/${parts.name}`;
}

function serviceFields(s: ServiceFleet, now: Date): Record<string, string | number | undefined> {
  const oldest = s.oldestExpiresAt;
  return {
    service: serviceName(s.serviceArn),
    serviceArn: s.serviceArn,
    currentTasks: s.tasks.current,
    previousTasks: s.tasks.previous,
    olderTasks: s.tasks.older,
    staleTasks: s.staleTasks,
    // null: a task started before every recorded promotion; its token is unknown, counted as expired.
    oldestExpiresAt: oldest === null ? 'unknown' : oldest?.toISOString(),
    oldestSecondsLeft: oldest ? Math.round((oldest.getTime() - now.getTime()) / 1000) : oldest === null ? 0 : undefined,
  };
}

function empty(): FleetSummary {
  return {
    services: 0,
    drilledDown: 0,
    staleTasks: 0,
    staleServices: 0,
    healed: [],
    stillStale: [],
    failed: [],
    ssmCalls: 0,
    servicesCached: false,
    ecsCalls: 0,
  };
}

function errorText(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return `${e.name ?? 'Error'}: ${e.message ?? String(err)}`;
}
