import { DescribeServicesCommand, ECSClient, Service, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { clusterOf, describeBatches, LONG_ARN_FORMAT, parseServiceArn, startedAfterPromotion } from '../core/ecs-services';
import type { CodeDeployRedeploy } from './codedeploy-redeploy';
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
  /**
   * The function's own region and account. A service elsewhere cannot be
   * redeployed by it (ECS would answer "not found"): it fails, named, without
   * an ECS call. Undefined: no check.
   */
  readonly home?: ServiceHome;
  /**
   * The CodeDeploy client and the services bound with a deployment group
   * (functions/codedeploy-redeploy.ts): a service with the CODE_DEPLOY
   * controller gets a CodeDeploy deployment. Undefined: no service has one,
   * and a CODE_DEPLOY service fails naming the fix.
   */
  readonly codeDeploy?: CodeDeployRedeploy;
}

export interface ServiceHome {
  readonly region: string;
  readonly account: string;
}

export interface RedeployReport {
  /** Got a new deployment now. */
  readonly redeployed: string[];
  /** Already had a deployment started after promotion (an earlier attempt, or someone else). */
  readonly alreadyCurrent: string[];
  /** Inactive or draining (deleted, still listed by ECS): no task can hold the old token, nothing to do. */
  readonly gone: string[];
  /**
   * ECS does not know the service or its cluster: deleted over an hour ago, or
   * a wrong ARN. Logged by name and counted, not failed: no redeploy can help.
   */
  readonly notFound: string[];
  readonly failed: Array<{ serviceArn: string; message: string }>;
  readonly throttleRetries: number;
}

const GONE_ERRORS = new Set(['ServiceNotActiveException']);
/** CodeDeploy's answer while another deployment of the group is active (one at a time per group). */
const DEPLOYMENT_LIMIT_EXCEEDED = 'DeploymentLimitExceededException';
const NOT_FOUND_ERRORS = new Set(['ServiceNotFoundException', 'ClusterNotFoundException']);

/**
 * Forces a new deployment of every service that has not had one since
 * promotion, as its deployment controller allows (DescribeServices
 * `deploymentController.type`, ECS when absent): UpdateService for ECS, a
 * CodeDeploy deployment for CODE_DEPLOY. EXTERNAL fails: its task sets are
 * managed outside ECS and CodeDeploy. One failure never stops the others;
 * the caller decides what a non-empty `failed` means.
 */
export async function redeployServices(ecs: ECSClient, serviceArns: readonly string[], options: RedeployOptions): Promise<RedeployReport> {
  const retry = options.retry ?? DEFAULT_RETRY;
  const report: RedeployReport = { redeployed: [], alreadyCurrent: [], gone: [], notFound: [], failed: [], throttleRetries: 0 };
  const countRetry = () => {
    (report as { throttleRetries: number }).throttleRetries++;
  };

  const local = options.home === undefined ? serviceArns : serviceArns.filter((arn) => !isForeign(report, arn, options.home!));
  const described = await describeAll(ecs, local, retry, countRetry, report);
  const toDeploy: string[] = [];
  for (const arn of local) {
    const service = described.get(arn);
    if (service === undefined) continue; // already classified as not found or failed
    const controller = service.deploymentController?.type ?? 'ECS';
    if (service.status !== 'ACTIVE') {
      report.gone.push(arn);
      log.info('service is not active (deleted), skipped', { service: arn, status: service.status });
    } else if (controller !== 'ECS') {
      if (controller !== 'CODE_DEPLOY' || options.codeDeploy?.targets.get(arn) === undefined) wrongController(report, arn, controller);
      else toDeploy.push(arn);
    } else if ((service.deployments ?? []).some((d) => startedAfterPromotion(d.createdAt, options.promotedAt))) {
      report.alreadyCurrent.push(arn);
    } else {
      toDeploy.push(arn);
    }
  }

  const pacer = new Pacer(options.staggerMs ?? 0, retry.sleep, options.now);
  await forEachLimited(toDeploy, options.concurrency, async (arn) => {
    const service = described.get(arn)!;
    try {
      // Only CODE_DEPLOY services with a bound deployment group got here (see above).
      if (service.deploymentController?.type === 'CODE_DEPLOY') {
        await deployWithCodeDeploy(options.codeDeploy!, service, arn, options.promotedAt, pacer, report, countRetry);
        return;
      }
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
 * A CodeDeploy deployment of the service, unless its group has one created
 * at or after the promotion (an earlier attempt, or someone else): then it is
 * already current, as an ECS service with a later deployment is.
 */
async function deployWithCodeDeploy(
  codeDeploy: CodeDeployRedeploy,
  service: Service,
  arn: string,
  promotedAt: Date,
  pacer: Pacer,
  report: RedeployReport,
  onRetry: () => void,
): Promise<void> {
  const target = codeDeploy.targets.get(arn)!;
  const group = `${target.application}/${target.deploymentGroup}`;
  try {
    const existing = await codeDeploy.deploymentSince(target, promotedAt, onRetry);
    if (existing !== undefined) {
      report.alreadyCurrent.push(arn);
      log.info('a CodeDeploy deployment started after promotion exists', { service: arn, deploymentGroup: group, deployment: existing });
      return;
    }
    // The stagger spaces CodeDeploy deployments too; their throttling is retried by withRetry, not through the pacer.
    await pacer.acquire();
    const deployment = await codeDeploy.createDeployment(service, target, onRetry);
    report.redeployed.push(arn);
    log.info('started a CodeDeploy deployment', { service: arn, deploymentGroup: group, deployment });
  } catch (err) {
    const e = err as { name?: string; message?: string };
    // The failure names the group: the service's ARN alone does not say which CodeDeploy call failed.
    if (e.name !== DEPLOYMENT_LIMIT_EXCEEDED) throw Object.assign(err as Error, { message: `CodeDeploy ${group}: ${e.message}` });
    const active = await codeDeploy.activeDeployment(target, onRetry).catch(() => undefined);
    const message =
      `CodeDeploy refused a new deployment of ${group}: ${active ? `deployment ${active}` : 'another deployment'} is still active ` +
      '(one at a time per deployment group) and started before the promotion, so its tasks may hold the previous URL. ' +
      "A retry of finishSecret starts this service's deployment once it has ended.";
    report.failed.push({ serviceArn: arn, message: `${DEPLOYMENT_LIMIT_EXCEEDED}: ${message}` });
    log.error('CodeDeploy refused a new deployment: another one is active', { service: arn, deploymentGroup: group, active });
  }
}

/** CODE_DEPLOY without a bound deployment group (e.g. an imported service), or EXTERNAL: no call can replace its tasks. */
function wrongController(report: RedeployReport, arn: string, controller: string): void {
  const message =
    controller === 'CODE_DEPLOY'
      ? 'service uses the CODE_DEPLOY deployment controller, which refuses forceNewDeployment, and no CodeDeploy deployment ' +
        'group is bound for it: bind it with redeployOnRotation(service, { codeDeployDeploymentGroup }) so that each rotation ' +
        'starts a CodeDeploy deployment'
      : `service uses the ${controller} deployment controller: its task sets are managed outside ECS and CodeDeploy, so nothing ` +
        'here can replace its tasks; EXTERNAL services cannot be bound (use the ECS or CODE_DEPLOY controller), unbind it';
  report.failed.push({ serviceArn: arn, message });
  log.error('cannot redeploy a service with this deployment controller', { service: arn, deploymentController: controller });
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
        if (found.has(arn)) continue;
        // DescribeServices lists it under failures (MISSING): ECS keeps a deleted service as INACTIVE for a while only.
        const reason = out.failures?.find((f) => f.arn === arn)?.reason ?? 'absent from the answer';
        notFound(report, arn, reason);
      }
    } catch (err) {
      for (const arn of batch) classifyFailure(report, arn, err);
    }
  }
  return found;
}

/** The region and account of an ARN (the secret's: the function's own); undefined when it is not an ARN. */
export function homeOf(arn: string): ServiceHome | undefined {
  const fields = arn.split(':');
  return fields[0] === 'arn' && fields.length >= 6 && fields[3] && fields[4] ? { region: fields[3], account: fields[4] } : undefined;
}

/** A service in another region or account: failed, named, so the step fails once the others are done. */
function isForeign(report: RedeployReport, arn: string, home: ServiceHome): boolean {
  const parts = parseServiceArn(arn);
  if (parts === undefined || (parts.region === home.region && parts.account === home.account)) return false;
  const message =
    `service is in region ${parts.region}, account ${parts.account}, but this function redeploys services in region ` +
    `${home.region}, account ${home.account} only; bind it to a DsqlUrlSecret in its own region and account`;
  report.failed.push({ serviceArn: arn, message });
  log.error('cannot redeploy a service in another region or account', { service: arn, region: parts.region, account: parts.account });
  return true;
}

function notFound(report: RedeployReport, arn: string, reason: string): void {
  report.notFound.push(arn);
  const parts = parseServiceArn(arn);
  log.warn('service not found, skipped (deleted over an hour ago, or a wrong ARN)', {
    service: arn,
    cluster: parts?.cluster,
    name: parts?.name,
    reason,
  });
}

function classifyFailure(report: RedeployReport, arn: string, err: unknown): void {
  const e = err as { name?: string; message?: string };
  if (NOT_FOUND_ERRORS.has(e.name ?? '')) {
    notFound(report, arn, e.name!);
    return;
  }
  if (GONE_ERRORS.has(e.name ?? '')) {
    report.gone.push(arn);
    log.warn('service is not active (deleted), skipped', { service: arn, error: e.name });
    return;
  }
  report.failed.push({ serviceArn: arn, message: `${e.name ?? 'Error'}: ${e.message ?? String(err)}` });
  log.error('could not force a new deployment', { service: arn, error: e.name, detail: e.message });
}
