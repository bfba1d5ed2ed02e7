import { TagResourceCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { isDeferredCopy, promotionTimeOf, rotationStateOf } from '../core/rotation-state';
import { MetricName } from '../lib/contract';
import { PromotedTag } from '../lib/secret-tags';
import { loadBoundServices } from './bound-services';
import { clearDeferral } from './defer-rotation';
import { log } from './log';
import { emitMetrics } from './metrics';
import { redeployServices } from './redeploy';
import { readVersionValue } from './secret-values';
import { metricDimension, StepContext } from './step-context';

/**
 * Promotes the pending version, then forces a new deployment of every bound
 * service so that each task restarts with the new URL. Safe to repeat: a
 * retry skips the promotion if it happened and the services that already got
 * a deployment after it. A deferred rotation's copy (the deferred tag names
 * this version) is promoted without any redeploy: tasks already hold its token.
 */
export async function finishSecret(ctx: StepContext): Promise<void> {
  const state = rotationStateOf(ctx.metadata);
  const current = state.current;
  const value = await readVersionValue(ctx.sm, ctx.secretArn, ctx.versionId);
  const noOp = isDeferredCopy(state, ctx.versionId);
  if (current !== ctx.versionId) {
    await ctx.sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: ctx.secretArn,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: ctx.versionId,
        RemoveFromVersionId: current,
      }),
    );
    log.info('finishSecret: promoted to AWSCURRENT', {
      secretArn: ctx.secretArn,
      versionId: ctx.versionId,
      previousVersionId: current,
      noOp,
    });
  }
  if (noOp) {
    // Same token as before: tasks already hold it. The promotion tag keeps the real promotion time.
    log.info('finishSecret: deferred rotation (same URL as the previous version): no redeploy, promotion time unchanged', {
      secretArn: ctx.secretArn,
      versionId: ctx.versionId,
      previousVersionId: current !== ctx.versionId ? current : state.previous,
    });
    emitMetrics(metricDimension(ctx), [
      { name: MetricName.ROTATION_SUCCEEDED, value: 1, unit: 'Count' },
      { name: MetricName.SERVICES_REDEPLOYED, value: 0, unit: 'Count' },
      { name: MetricName.REDEPLOY_FAILURES, value: 0, unit: 'Count' },
      { name: MetricName.THROTTLE_RETRIES, value: 0, unit: 'Count' },
      {
        name: MetricName.TOKEN_SECONDS_LEFT_AT_PROMOTION,
        value: value ? (Date.parse(value.expiresAt) - Date.now()) / 1000 : NaN,
        unit: 'Seconds',
      },
    ]);
    return;
  }
  const promotedAt = await promotionTime(ctx);
  await clearDeferral(ctx);
  const services = await loadBoundServices(ctx.ssm, ctx.config.boundServicesParameter, ctx.config.boundServicesParameterCount);
  const report = await redeployServices(ctx.ecs, services, {
    promotedAt,
    concurrency: ctx.config.redeployConcurrency,
    staggerMs: ctx.config.redeployStaggerMs,
    retry: ctx.retry,
  });
  log.info('finishSecret: redeploy summary', {
    secretArn: ctx.secretArn,
    versionId: ctx.versionId,
    services: services.length,
    redeployed: report.redeployed.length,
    alreadyCurrent: report.alreadyCurrent.length,
    gone: report.gone.length,
    failed: report.failed.length,
    throttleRetries: report.throttleRetries,
  });
  const now = Date.now();
  emitMetrics(metricDimension(ctx), [
    { name: MetricName.ROTATION_SUCCEEDED, value: report.failed.length === 0 ? 1 : 0, unit: 'Count' },
    { name: MetricName.ROTATION_DURATION, value: value ? (now - Date.parse(value.issuedAt)) / 1000 : NaN, unit: 'Seconds' },
    { name: MetricName.SERVICES_REDEPLOYED, value: report.redeployed.length, unit: 'Count' },
    { name: MetricName.REDEPLOY_FAILURES, value: report.failed.length, unit: 'Count' },
    { name: MetricName.THROTTLE_RETRIES, value: report.throttleRetries, unit: 'Count' },
    {
      name: MetricName.TOKEN_SECONDS_LEFT_AT_PROMOTION,
      value: value ? (Date.parse(value.expiresAt) - promotedAt.getTime()) / 1000 : NaN,
      unit: 'Seconds',
    },
  ]);
  if (report.failed.length > 0) {
    const list = report.failed.map((f) => `${f.serviceArn} (${f.message})`).join('; ');
    throw new Error(
      `finishSecret: the new URL is AWSCURRENT but ${report.failed.length} of ${services.length} services ` +
        `could not be redeployed: ${list}. A retry redeploys only these.`,
    );
  }
}

/**
 * The promotion time of this version, from the secret's tag if an earlier
 * attempt wrote it, otherwise now (we are just past the promotion) recorded in
 * the tag. Recording it before any redeploy means a retry never redeploys a
 * service twice for one version.
 */
async function promotionTime(ctx: StepContext): Promise<Date> {
  const recorded = promotionTimeOf(rotationStateOf(ctx.metadata), ctx.versionId);
  if (recorded !== undefined) return recorded;
  const now = new Date();
  await ctx.sm.send(
    new TagResourceCommand({
      SecretId: ctx.secretArn,
      Tags: [{ Key: PromotedTag.key, Value: PromotedTag.encode({ versionId: ctx.versionId, at: now }) }],
    }),
  );
  return now;
}
