import { ECSClient } from '@aws-sdk/client-ecs';
import { IAMClient } from '@aws-sdk/client-iam';
import { SSMClient } from '@aws-sdk/client-ssm';
import {
  DescribeSecretCommandOutput, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient,
  TagResourceCommand, UntagResourceCommand, UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { DEFERRED_TAG_KEY, DsqlUrlSecretValue, MetricName, PROMOTED_TAG_KEY, SignerKind } from '../lib/contract';
import { loadBoundServices } from './bound-services';
import { HandlerConfig } from './config';
import { checkConnection } from './connection-check';
import { decideDeferral } from './deferral';
import { log } from './log';
import { emitMetrics } from './metrics';
import { redeployServices } from './redeploy';
import { RetryPolicy } from './retry';
import { readCurrentValue, recordedPromotionTime, versionWithStage } from './secret-versions';
import { signingCredentials } from './signer';
import { mintSecretValue } from './token';

export interface StepContext {
  readonly sm: SecretsManagerClient;
  readonly ecs: ECSClient;
  readonly ssm: SSMClient;
  readonly iam: IAMClient;
  readonly config: HandlerConfig;
  readonly secretArn: string;
  readonly token: string;
  /** The secret's metadata as read by the guards at the start of this invocation. */
  readonly metadata: DescribeSecretCommandOutput;
  readonly retry?: RetryPolicy;
  /**
   * testSecret with the access-key signer: the waits between connection
   * attempts DSQL refuses, while IAM makes a brand-new key usable.
   */
  readonly newKeyRetryDelaysMs?: readonly number[];
  readonly sleep?: (ms: number) => Promise<void>;
}

/** About 30 s in all: a new IAM access key is normally accepted within a few seconds. */
export const NEW_KEY_RETRY_DELAYS_MS: readonly number[] = [2_000, 4_000, 8_000, 16_000];

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Reads the value stored under `token` with AWSPENDING, or undefined if none was written yet. */
async function pendingValue(ctx: StepContext): Promise<DsqlUrlSecretValue | undefined> {
  try {
    const out = await ctx.sm.send(new GetSecretValueCommand({ SecretId: ctx.secretArn, VersionId: ctx.token, VersionStage: 'AWSPENDING' }));
    return out.SecretString === undefined ? undefined : JSON.parse(out.SecretString) as DsqlUrlSecretValue;
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
}

/** The value stored under `versionId` (default `token`), whatever its stages (undefined if unreadable). */
async function versionValue(ctx: StepContext, versionId: string = ctx.token): Promise<DsqlUrlSecretValue | undefined> {
  try {
    const out = await ctx.sm.send(new GetSecretValueCommand({ SecretId: ctx.secretArn, VersionId: versionId }));
    return out.SecretString === undefined ? undefined : JSON.parse(out.SecretString) as DsqlUrlSecretValue;
  } catch {
    return undefined;
  }
}

/**
 * When AWSCURRENT's token was promoted: the promotion tag when it names
 * AWSCURRENT, or when it names AWSPREVIOUS and a no-op (deferred) rotation
 * carried that same token into AWSCURRENT.
 */
async function currentTokenPromotedAt(ctx: StepContext, currentPassword: string | undefined): Promise<Date | undefined> {
  const current = versionWithStage(ctx.metadata, 'AWSCURRENT');
  const direct = recordedPromotionTime(ctx.metadata, current);
  if (direct !== undefined) return direct;
  const previous = versionWithStage(ctx.metadata, 'AWSPREVIOUS');
  const viaPrevious = recordedPromotionTime(ctx.metadata, previous);
  if (viaPrevious === undefined || currentPassword === undefined || currentPassword === '') return undefined;
  const previousValue = await versionValue(ctx, previous!);
  return previousValue?.password === currentPassword ? viaPrevious : undefined;
}

/**
 * A rotation within rolloutAllowance of the last promotion (see deferral.ts)
 * stores AWSCURRENT's value again as AWSPENDING and tags the secret with the
 * time from which the watchdog rotates for real. Returns whether it did.
 */
async function deferIfWithinRollout(ctx: StepContext, now: Date): Promise<boolean> {
  const allowance = ctx.config.rolloutAllowanceSeconds;
  if (allowance <= 0) return false;
  const fields = { secretArn: ctx.secretArn, versionId: ctx.token };
  // Cheap check first: no promotion within the allowance means no read at all.
  const tagged = recordedPromotionTime(ctx.metadata, versionWithStage(ctx.metadata, 'AWSCURRENT'))
    ?? recordedPromotionTime(ctx.metadata, versionWithStage(ctx.metadata, 'AWSPREVIOUS'));
  if (tagged === undefined || now.getTime() >= tagged.getTime() + allowance * 1000) return false;

  const current = await readCurrentValue(ctx.sm, ctx.secretArn);
  const value = current?.value;
  const expiresMs = typeof value?.expiresAt === 'string' ? Date.parse(value.expiresAt) : NaN;
  const decision = decideDeferral({
    now,
    promotedAt: await currentTokenPromotedAt(ctx, typeof value?.password === 'string' ? value.password : undefined),
    rolloutAllowanceSeconds: allowance,
    currentExpiresAt: value?.url && !Number.isNaN(expiresMs) ? new Date(expiresMs) : undefined,
    currentMatchesConfig: value?.host === ctx.config.host && Number(value?.port) === ctx.config.port
      && value?.username === ctx.config.username && value?.dbname === ctx.config.database,
  });
  if (!decision.defer) {
    log.info('createSecret: not deferring this rotation', { ...fields, reason: decision.reason });
    return false;
  }
  try {
    await checkConnection(value as DsqlUrlSecretValue, ctx.config.connectTimeoutSeconds);
  } catch (err) {
    log.warn('createSecret: the current URL does not authenticate, rotating now instead of deferring', {
      ...fields, detail: (err as Error).message.replace(/^testSecret: /, ''),
    });
    return false;
  }
  await ctx.sm.send(new PutSecretValueCommand({
    SecretId: ctx.secretArn, ClientRequestToken: ctx.token, SecretString: current!.raw, VersionStages: ['AWSPENDING'],
  }));
  await ctx.sm.send(new TagResourceCommand({ SecretId: ctx.secretArn, Tags: [{ Key: DEFERRED_TAG_KEY, Value: decision.until.toISOString() }] }));
  log.warn('createSecret: rotation deferred: stored the current URL again as AWSPENDING (no new token, no redeploy); '
    + 'the watchdog rotates once the deferral ends', {
    ...fields, reason: decision.reason, deferredUntil: decision.until.toISOString(), signer: ctx.config.signer.kind,
  });
  return true;
}

/**
 * Mints a new token and stores the URL as AWSPENDING, unless a retry already
 * did, or the rotation is deferred (deferIfWithinRollout): then AWSCURRENT's
 * value is stored again, before any access key is touched.
 */
export async function createSecret(ctx: StepContext): Promise<void> {
  if (await pendingValue(ctx) !== undefined) {
    log.info('createSecret: pending value already exists, nothing to do', { secretArn: ctx.secretArn, versionId: ctx.token });
    return;
  }
  const now = new Date();
  if (await deferIfWithinRollout(ctx, now)) return;
  const credentials = await signingCredentials(ctx, now);
  const value = await mintSecretValue(ctx.config, now, credentials);
  await ctx.sm.send(new PutSecretValueCommand({
    SecretId: ctx.secretArn,
    ClientRequestToken: ctx.token,
    SecretString: JSON.stringify(value),
    VersionStages: ['AWSPENDING'],
  }));
  log.info('createSecret: stored a new URL as AWSPENDING', {
    secretArn: ctx.secretArn, versionId: ctx.token, signer: ctx.config.signer.kind, expiresAt: value.expiresAt,
  });
}

/**
 * Nothing to change in DSQL: a token is not a password stored in the database.
 * DSQL checks each token's signature against IAM when a client connects, so a
 * freshly signed token is valid as soon as it exists.
 */
export async function setSecret(ctx: StepContext): Promise<void> {
  log.info('setSecret: nothing to do, DSQL validates tokens against IAM at connect time', { secretArn: ctx.secretArn, versionId: ctx.token });
}

/**
 * Connects with the pending URL for real; a token DSQL would refuse never gets
 * promoted.
 *
 * Two special cases:
 * - With RotateImmediately=false, Secrets Manager runs only this step, on a
 *   throwaway AWSPENDING copy of the current value. If that is the
 *   construct's placeholder (empty url: createSecret always writes a real
 *   one), there is no token to test yet.
 * - A brand-new IAM access key takes a few seconds to be accepted: with the
 *   access-key signer an authentication failure is retried with backoff
 *   (about 30 s in all). The role signer's credentials are not new, so it
 *   fails at once.
 */
export async function testSecret(ctx: StepContext): Promise<void> {
  const fields = { secretArn: ctx.secretArn, versionId: ctx.token };
  const value = await pendingValue(ctx);
  if (value === undefined) {
    throw new Error(`testSecret: version ${ctx.token} of ${ctx.secretArn} has no AWSPENDING value; createSecret did not run or failed`);
  }
  if (value.url === '') {
    log.info('testSecret: the pending value is the placeholder (no token yet), nothing to test', fields);
    return;
  }
  if (Date.parse(value.expiresAt) <= Date.now()) {
    throw new Error(`testSecret: the pending token expired at ${value.expiresAt}; a retry mints a new one only in a new rotation`);
  }
  const delays = ctx.config.signer.kind === SignerKind.ACCESS_KEY ? (ctx.newKeyRetryDelaysMs ?? NEW_KEY_RETRY_DELAYS_MS) : [];
  const sleep = ctx.sleep ?? sleepFor;
  for (let attempt = 1; ; attempt++) {
    try {
      await checkConnection(value, ctx.config.connectTimeoutSeconds);
      break;
    } catch (err) {
      // `kind` is set by checkConnection; 'auth' means DSQL refused the token.
      const refused = (err as { kind?: string }).kind === 'auth';
      if (!refused || attempt > delays.length) {
        if (refused && attempt > 1) {
          const waited = delays.slice(0, attempt - 1).reduce((a, b) => a + b, 0) / 1000;
          (err as Error).message += ` (still refused after ${attempt} attempts over ${waited} s; a new IAM access key is normally accepted within seconds)`;
        }
        throw err;
      }
      log.info('testSecret: DSQL refused the token of a new access key; IAM may not have propagated the key yet, retrying', {
        ...fields, attempt, retryInMs: delays[attempt - 1],
      });
      await sleep(delays[attempt - 1]);
    }
  }
  log.info('testSecret: the pending URL connects and runs SELECT 1', fields);
}

/**
 * Promotes the pending version, then forces a new deployment of every bound
 * service so that each task restarts with the new URL. Safe to repeat: a
 * retry skips the promotion if it happened and the services that already got
 * a deployment after it.
 */
export async function finishSecret(ctx: StepContext): Promise<void> {
  const current = versionWithStage(ctx.metadata, 'AWSCURRENT');
  // Read before promotion: a no-op (deferred) rotation carries the previous token unchanged.
  const previousVersion = current !== ctx.token ? current : versionWithStage(ctx.metadata, 'AWSPREVIOUS');
  const value = await versionValue(ctx);
  const previous = previousVersion === undefined || value === undefined ? undefined : await versionValue(ctx, previousVersion);
  const noOp = typeof value?.password === 'string' && value.password !== '' && previous?.password === value.password;
  if (current !== ctx.token) {
    await ctx.sm.send(new UpdateSecretVersionStageCommand({
      SecretId: ctx.secretArn, VersionStage: 'AWSCURRENT', MoveToVersionId: ctx.token, RemoveFromVersionId: current,
    }));
    log.info('finishSecret: promoted to AWSCURRENT', { secretArn: ctx.secretArn, versionId: ctx.token, previousVersionId: current, noOp });
  }
  if (noOp) {
    // Same token as before: tasks already hold it. The promotion tag keeps the real promotion time.
    log.info('finishSecret: deferred rotation (same URL as the previous version): no redeploy, promotion time unchanged', {
      secretArn: ctx.secretArn, versionId: ctx.token, previousVersionId: previousVersion,
    });
    emitMetrics(metricDimension(ctx), [
      { name: MetricName.ROTATION_SUCCEEDED, value: 1, unit: 'Count' },
      { name: MetricName.SERVICES_REDEPLOYED, value: 0, unit: 'Count' },
      { name: MetricName.REDEPLOY_FAILURES, value: 0, unit: 'Count' },
      { name: MetricName.THROTTLE_RETRIES, value: 0, unit: 'Count' },
      { name: MetricName.TOKEN_SECONDS_LEFT_AT_PROMOTION, value: (Date.parse(value!.expiresAt) - Date.now()) / 1000, unit: 'Seconds' },
    ]);
    return;
  }
  const promotedAt = await promotionTime(ctx);
  await clearDeferral(ctx);
  const services = await loadBoundServices(ctx.ssm, ctx.config.boundServicesParameter, ctx.config.boundServicesParameterCount);
  const report = await redeployServices(ctx.ecs, services, {
    promotedAt, concurrency: ctx.config.redeployConcurrency, staggerMs: ctx.config.redeployStaggerMs, retry: ctx.retry,
  });
  log.info('finishSecret: redeploy summary', {
    secretArn: ctx.secretArn, versionId: ctx.token, services: services.length,
    redeployed: report.redeployed.length, alreadyCurrent: report.alreadyCurrent.length,
    gone: report.gone.length, failed: report.failed.length, throttleRetries: report.throttleRetries,
  });
  const now = Date.now();
  emitMetrics(metricDimension(ctx), [
    { name: MetricName.ROTATION_SUCCEEDED, value: report.failed.length === 0 ? 1 : 0, unit: 'Count' },
    { name: MetricName.ROTATION_DURATION, value: value ? (now - Date.parse(value.issuedAt)) / 1000 : NaN, unit: 'Seconds' },
    { name: MetricName.SERVICES_REDEPLOYED, value: report.redeployed.length, unit: 'Count' },
    { name: MetricName.REDEPLOY_FAILURES, value: report.failed.length, unit: 'Count' },
    { name: MetricName.THROTTLE_RETRIES, value: report.throttleRetries, unit: 'Count' },
    { name: MetricName.TOKEN_SECONDS_LEFT_AT_PROMOTION, value: value ? (Date.parse(value.expiresAt) - promotedAt.getTime()) / 1000 : NaN, unit: 'Seconds' },
  ]);
  if (report.failed.length > 0) {
    const list = report.failed.map((f) => `${f.serviceArn} (${f.message})`).join('; ');
    throw new Error(`finishSecret: the new URL is AWSCURRENT but ${report.failed.length} of ${services.length} services `
      + `could not be redeployed: ${list}. A retry redeploys only these.`);
  }
}

/**
 * The promotion time of `ctx.token`, from the secret's tag if an earlier
 * attempt wrote it, otherwise now (we are just past the promotion) recorded in
 * the tag. Recording it before any redeploy means a retry never redeploys a
 * service twice for one version.
 */
async function promotionTime(ctx: StepContext): Promise<Date> {
  const recorded = recordedPromotionTime(ctx.metadata, ctx.token);
  if (recorded !== undefined) return recorded;
  const now = new Date();
  await ctx.sm.send(new TagResourceCommand({
    SecretId: ctx.secretArn, Tags: [{ Key: PROMOTED_TAG_KEY, Value: `${ctx.token} ${now.toISOString()}` }],
  }));
  return now;
}

/** The `Secret` dimension of the metrics: the construct's, else the secret's name (as the watchdog does). */
function metricDimension(ctx: StepContext): string {
  return ctx.config.metricDimension ?? ctx.metadata.Name ?? ctx.secretArn;
}

/** A real rotation ends any deferral: the watchdog must not rotate again for it. */
async function clearDeferral(ctx: StepContext): Promise<void> {
  if (!ctx.metadata.Tags?.some((t) => t.Key === DEFERRED_TAG_KEY)) return;
  try {
    await ctx.sm.send(new UntagResourceCommand({ SecretId: ctx.secretArn, TagKeys: [DEFERRED_TAG_KEY] }));
    log.info('finishSecret: removed the deferral tag', { secretArn: ctx.secretArn, versionId: ctx.token });
  } catch (err) {
    // At worst the watchdog starts one more rotation, which is deferred or real: not worth failing the redeploys for.
    log.warn('finishSecret: could not remove the deferral tag', { secretArn: ctx.secretArn, versionId: ctx.token, error: (err as Error).name });
  }
}
