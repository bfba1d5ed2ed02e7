import { TagResourceCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { describeInvalidEntry } from '../core/bound-services';
import { isDeferredCopy, promotionTimeOf, rotationStateOf } from '../core/rotation-state';
import { DsqlUrlSecretValue, MetricName } from '../lib/contract';
import { PromotedTag, PromotionHistoryTag, withPromotion } from '../lib/secret-tags';
import { LoadedBoundServices, loadBoundServices } from './bound-services';
import { codeDeployPath } from './codedeploy-redeploy';
import { clearDeferral } from './defer-rotation';
import { BoundFunctionsUpdate, functionFailures, functionFailureSentences, updateFunctionsAfterPromotion } from './function-consumers';
import { log } from './log';
import { emitMetrics } from './metrics';
import { homeOf, RedeployReport, redeployServices } from './redeploy';
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
      { name: MetricName.SERVICES_NOT_FOUND, value: 0, unit: 'Count' },
      { name: MetricName.REDEPLOY_FAILURES, value: 0, unit: 'Count' },
      { name: MetricName.THROTTLE_RETRIES, value: 0, unit: 'Count' },
      { name: MetricName.FUNCTIONS_UPDATED, value: 0, unit: 'Count' },
      { name: MetricName.FUNCTION_UPDATE_FAILURES, value: 0, unit: 'Count' },
      {
        name: MetricName.TOKEN_SECONDS_LEFT_AT_PROMOTION,
        value: value ? (Date.parse(value.expiresAt) - Date.now()) / 1000 : NaN,
        unit: 'Seconds',
      },
    ]);
    return;
  }
  const promotedAt = await promotionTime(ctx, value);
  await clearDeferral(ctx);
  // The bound functions get the new value at the same time as the services' redeploys (each bounded by redeployConcurrency).
  const [{ bound, report }, functions] = await Promise.all([
    (async () => {
      const bound = await loadBoundServices(ctx.ssm, ctx.config.boundServicesParameter, ctx.config.boundServicesParameterCount);
      const report = await redeployServices(ctx.ecs, bound.arns, {
        promotedAt,
        concurrency: ctx.config.redeployConcurrency,
        staggerMs: ctx.config.redeployStaggerMs,
        retry: ctx.retry,
        // The secret is in the function's own region and account: a service elsewhere fails once the others are done.
        home: homeOf(ctx.secretArn),
        // Services with the CODE_DEPLOY controller get a CodeDeploy deployment in the group they were bound with.
        codeDeploy: codeDeployPath(bound.codeDeploy, ctx.retry),
      });
      return { bound, report };
    })(),
    updateFunctionsAfterPromotion(ctx, value),
  ]);
  // Entries that are not service ARNs count as failures: the step fails naming them once the others are redeployed.
  const failures = report.failed.length + bound.invalid.length;
  log.info('finishSecret: redeploy summary', {
    secretArn: ctx.secretArn,
    versionId: ctx.versionId,
    services: bound.arns.length,
    redeployed: report.redeployed.length,
    alreadyCurrent: report.alreadyCurrent.length,
    gone: report.gone.length,
    notFound: report.notFound.length,
    failed: report.failed.length,
    invalidEntries: bound.invalid.length,
    throttleRetries: report.throttleRetries,
  });
  const now = Date.now();
  emitMetrics(metricDimension(ctx), [
    { name: MetricName.ROTATION_SUCCEEDED, value: failures + functionFailures(functions) === 0 ? 1 : 0, unit: 'Count' },
    { name: MetricName.ROTATION_DURATION, value: value ? (now - Date.parse(value.issuedAt)) / 1000 : NaN, unit: 'Seconds' },
    { name: MetricName.SERVICES_REDEPLOYED, value: report.redeployed.length, unit: 'Count' },
    { name: MetricName.SERVICES_NOT_FOUND, value: report.notFound.length, unit: 'Count' },
    { name: MetricName.REDEPLOY_FAILURES, value: failures, unit: 'Count' },
    { name: MetricName.THROTTLE_RETRIES, value: report.throttleRetries, unit: 'Count' },
    { name: MetricName.FUNCTIONS_UPDATED, value: functions.report.updated.length, unit: 'Count' },
    { name: MetricName.FUNCTION_UPDATE_FAILURES, value: functionFailures(functions), unit: 'Count' },
    {
      name: MetricName.TOKEN_SECONDS_LEFT_AT_PROMOTION,
      value: value ? (Date.parse(value.expiresAt) - promotedAt.getTime()) / 1000 : NaN,
      unit: 'Seconds',
    },
  ]);
  if (failures + functionFailures(functions) > 0) throw new Error(redeployFailure(report, bound, functions));
}

/** Names every service and function that failed and every malformed entry; the others were redeployed or updated. */
function redeployFailure(report: RedeployReport, bound: LoadedBoundServices, functions: BoundFunctionsUpdate): string {
  const sentences: string[] = [];
  if (report.failed.length > 0) {
    const list = report.failed.map((f) => `${f.serviceArn} (${f.message})`).join('; ');
    sentences.push(
      `but ${report.failed.length} of ${bound.arns.length} services could not be redeployed: ${list}. A retry redeploys only these.`,
    );
  }
  if (bound.invalid.length > 0) {
    const list = bound.invalid.map(describeInvalidEntry).join('; ');
    sentences.push(
      `${report.failed.length > 0 ? 'Also' : 'but'} ${bound.invalid.length} bound-services ` +
        `${bound.invalid.length === 1 ? 'entry is' : 'entries are'} not a service ARN: ${list}; the other services were redeployed. ` +
        'Was the parameter changed by hand? Deploy the stack again to restore it.',
    );
  }
  sentences.push(...functionFailureSentences(functions, sentences.length === 0));
  return `finishSecret: the new URL is AWSCURRENT ${sentences.join(' ')}`;
}

/**
 * The promotion time of this version, from the secret's tag if an earlier
 * attempt wrote it, otherwise now (we are just past the promotion) recorded in
 * the tag. Recording it before any redeploy means a retry never redeploys a
 * service twice for one version. The same TagResource call puts the version in
 * front of the promotion history (the fleet check reads which token each task
 * holds from it): one call, so the two tags never disagree. A value without a
 * readable expiresAt adds no record: the watchdog then puts AWSCURRENT in front.
 */
async function promotionTime(ctx: StepContext, value: DsqlUrlSecretValue | undefined): Promise<Date> {
  const recorded = promotionTimeOf(rotationStateOf(ctx.metadata), ctx.versionId);
  if (recorded !== undefined) return recorded;
  const now = new Date();
  const tags: Array<{ Key: string; Value: string }> = [
    { Key: PromotedTag.key, Value: PromotedTag.encode({ versionId: ctx.versionId, at: now }) },
  ];
  const expiresMs = typeof value?.expiresAt === 'string' ? Date.parse(value.expiresAt) : NaN;
  if (!Number.isNaN(expiresMs)) {
    const history = PromotionHistoryTag.decode(ctx.metadata.Tags?.find((t) => t.Key === PromotionHistoryTag.key)?.Value);
    const record = { versionId: ctx.versionId, promotedAt: now, expiresAt: new Date(expiresMs) };
    tags.push({ Key: PromotionHistoryTag.key, Value: PromotionHistoryTag.encode(withPromotion(history, record)) });
  }
  await ctx.sm.send(new TagResourceCommand({ SecretId: ctx.secretArn, Tags: tags }));
  return now;
}
