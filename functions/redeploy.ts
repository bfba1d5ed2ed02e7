import { DescribeServicesCommand, ECSClient, Service, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { clusterOf, describeBatches, LONG_ARN_FORMAT, startedAfterPromotion } from '../core/ecs-services';
import { forEachLimited } from './for-each-limited';
import { log } from './log';
import { Pacer } from './pacer';
import { DEFAULT_RETRY, isRetryable, RetryPolicy, withRetry } from './retry';

export interface RedeployOptions {
  /** When the new version became AWSCURRENT: a deployment started later already reads it. */
  readonly promotedAt: Date;
  readonly concurrency: number;
  /** Minimum time between the starts of two services' redeployments, to spread task starts (and DSQL connections). */
  readonly staggerMs?: number;
  readonly retry?: RetryPolicy;
  /** The clock the stagger reads (tests pass a fixed one). */
  readonly now?: () => number;
}

export interface RedeployReport {
  /** Got a new deployment now. */
  readonly redeployed: string[];
  /** Already had a deployment started after promotion (an earlier attempt, or someone else). */
  readonly alreadyCurrent: string[];
  /** Deleted or inactive: no task can hold the old token, nothing to do. */
  readonly gone: string[];
  readonly failed: Array<{ serviceArn: string; message: string }>;
  readonly throttleRetries: number;
}

const GONE_ERRORS = new Set(['ServiceNotFoundException', 'ServiceNotActiveException', 'ClusterNotFoundException']);

/**
 * Forces a new deployment of every service that has not had one since
 * promotion. One failure never stops the others; the caller decides what a
 * non-empty `failed` means.
 */
export async function redeployServices(ecs: ECSClient, serviceArns: readonly string[], options: RedeployOptions): Promise<RedeployReport> {
  const retry = options.retry ?? DEFAULT_RETRY;
  const report: RedeployReport = { redeployed: [], alreadyCurrent: [], gone: [], failed: [], throttleRetries: 0 };
  const countRetry = () => {
    (report as { throttleRetries: number }).throttleRetries++;
  };

  const described = await describeAll(ecs, serviceArns, retry, countRetry, report);
  const toDeploy: string[] = [];
  for (const arn of serviceArns) {
    const service = described.get(arn);
    if (service === undefined) continue; // already classified as gone or failed
    if (service.status !== 'ACTIVE') {
      report.gone.push(arn);
    } else if ((service.deployments ?? []).some((d) => startedAfterPromotion(d.createdAt, options.promotedAt))) {
      report.alreadyCurrent.push(arn);
    } else {
      toDeploy.push(arn);
    }
  }

  const pacer = new Pacer(options.staggerMs ?? 0, retry.sleep, options.now);
  await forEachLimited(toDeploy, options.concurrency, async (arn) => {
    try {
      await updateWithPacing(ecs, arn, pacer, retry.maxAttempts, countRetry);
      report.redeployed.push(arn);
      log.info('forced a new deployment', { service: arn });
    } catch (err) {
      classifyFailure(report, arn, err);
    }
  });
  return report;
}

/**
 * Sends UpdateService through the shared pacer. A throttled attempt widens
 * the pacer's gap for every lane, which is the backoff: a per-call backoff on
 * top left lanes idle and halved throughput (`npm run bench`).
 */
async function updateWithPacing(ecs: ECSClient, arn: string, pacer: Pacer, maxAttempts: number, onRetry: () => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const ticket = await pacer.acquire();
    try {
      await ecs.send(new UpdateServiceCommand({ cluster: clusterOf(arn), service: arn, forceNewDeployment: true }));
      pacer.succeeded();
      return;
    } catch (err) {
      if (!isRetryable(err) || attempt >= maxAttempts) throw err;
      pacer.throttled(ticket);
      onRetry();
    }
  }
}

async function describeAll(
  ecs: ECSClient,
  serviceArns: readonly string[],
  retry: RetryPolicy,
  onRetry: () => void,
  report: RedeployReport,
): Promise<Map<string, Service>> {
  const { batches, invalid } = describeBatches(serviceArns);
  for (const arn of invalid) report.failed.push({ serviceArn: arn, message: `'${arn}' is not ${LONG_ARN_FORMAT}` });
  const found = new Map<string, Service>();
  for (const { cluster, arns: batch } of batches) {
    try {
      const out = await withRetry(() => ecs.send(new DescribeServicesCommand({ cluster, services: [...batch] })), retry, onRetry);
      for (const service of out.services ?? []) {
        if (service.serviceArn) found.set(service.serviceArn, service);
      }
      for (const arn of batch) {
        if (!found.has(arn)) report.gone.push(arn); // DescribeServices lists it under failures: MISSING
      }
    } catch (err) {
      for (const arn of batch) classifyFailure(report, arn, err);
    }
  }
  return found;
}

function classifyFailure(report: RedeployReport, arn: string, err: unknown): void {
  const e = err as { name?: string; message?: string };
  if (GONE_ERRORS.has(e.name ?? '')) {
    report.gone.push(arn);
    log.warn('service no longer exists, skipped', { service: arn, error: e.name });
    return;
  }
  report.failed.push({ serviceArn: arn, message: `${e.name ?? 'Error'}: ${e.message ?? String(err)}` });
  log.error('could not force a new deployment', { service: arn, error: e.name, detail: e.message });
}
