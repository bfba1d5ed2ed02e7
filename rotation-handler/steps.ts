import { ECSClient } from '@aws-sdk/client-ecs';
import { SSMClient } from '@aws-sdk/client-ssm';
import {
  DescribeSecretCommandOutput, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient,
  TagResourceCommand, UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { DsqlUrlSecretValue, PROMOTED_TAG_KEY } from '../lib/contract';
import { loadBoundServices } from './bound-services';
import { HandlerConfig } from './config';
import { checkConnection } from './connection-check';
import { log } from './log';
import { redeployServices } from './redeploy';
import { RetryPolicy } from './retry';
import { mintSecretValue } from './token';

export interface StepContext {
  readonly sm: SecretsManagerClient;
  readonly ecs: ECSClient;
  readonly ssm: SSMClient;
  readonly config: HandlerConfig;
  readonly secretArn: string;
  readonly token: string;
  /** The secret's metadata as read by the guards at the start of this invocation. */
  readonly metadata: DescribeSecretCommandOutput;
  readonly retry?: RetryPolicy;
}

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

/** Mints a new token and stores the URL as AWSPENDING, unless a retry already did. */
export async function createSecret(ctx: StepContext): Promise<void> {
  if (await pendingValue(ctx) !== undefined) {
    log.info('createSecret: pending value already exists, nothing to do', { secretArn: ctx.secretArn, versionId: ctx.token });
    return;
  }
  const value = await mintSecretValue(ctx.config);
  await ctx.sm.send(new PutSecretValueCommand({
    SecretId: ctx.secretArn,
    ClientRequestToken: ctx.token,
    SecretString: JSON.stringify(value),
    VersionStages: ['AWSPENDING'],
  }));
  log.info('createSecret: stored a new URL as AWSPENDING', { secretArn: ctx.secretArn, versionId: ctx.token, expiresAt: value.expiresAt });
}

/**
 * Nothing to change in DSQL: a token is not a password stored in the database.
 * DSQL checks each token's signature against IAM when a client connects, so a
 * freshly signed token is valid as soon as it exists.
 */
export async function setSecret(ctx: StepContext): Promise<void> {
  log.info('setSecret: nothing to do, DSQL validates tokens against IAM at connect time', { secretArn: ctx.secretArn, versionId: ctx.token });
}

/** Connects with the pending URL for real; a token DSQL would refuse never gets promoted. */
export async function testSecret(ctx: StepContext): Promise<void> {
  const value = await pendingValue(ctx);
  if (value === undefined) {
    throw new Error(`testSecret: version ${ctx.token} of ${ctx.secretArn} has no AWSPENDING value; createSecret did not run or failed`);
  }
  if (Date.parse(value.expiresAt) <= Date.now()) {
    throw new Error(`testSecret: the pending token expired at ${value.expiresAt}; a retry mints a new one only in a new rotation`);
  }
  await checkConnection(value, ctx.config.connectTimeoutSeconds);
  log.info('testSecret: the pending URL connects and runs SELECT 1', { secretArn: ctx.secretArn, versionId: ctx.token });
}

/**
 * Promotes the pending version, then forces a new deployment of every bound
 * service so that each task restarts with the new URL. Safe to repeat: a
 * retry skips the promotion if it happened and the services that already got
 * a deployment after it.
 */
export async function finishSecret(ctx: StepContext): Promise<void> {
  const current = versionWithStage(ctx.metadata, 'AWSCURRENT');
  if (current !== ctx.token) {
    await ctx.sm.send(new UpdateSecretVersionStageCommand({
      SecretId: ctx.secretArn, VersionStage: 'AWSCURRENT', MoveToVersionId: ctx.token, RemoveFromVersionId: current,
    }));
    log.info('finishSecret: promoted to AWSCURRENT', { secretArn: ctx.secretArn, versionId: ctx.token, previousVersionId: current });
  }
  const promotedAt = await promotionTime(ctx);
  const services = await loadBoundServices(ctx.ssm, ctx.config.boundServicesParameter);
  const report = await redeployServices(ctx.ecs, services, {
    promotedAt, concurrency: ctx.config.redeployConcurrency, retry: ctx.retry,
  });
  log.info('finishSecret: redeploy summary', {
    secretArn: ctx.secretArn, versionId: ctx.token, services: services.length,
    redeployed: report.redeployed.length, alreadyCurrent: report.alreadyCurrent.length,
    gone: report.gone.length, failed: report.failed.length, throttleRetries: report.throttleRetries,
  });
  if (report.failed.length > 0) {
    const list = report.failed.map((f) => `${f.serviceArn} (${f.message})`).join('; ');
    throw new Error(`finishSecret: the new URL is AWSCURRENT but ${report.failed.length} of ${services.length} services `
      + `could not be redeployed: ${list}. A retry redeploys only these.`);
  }
}

export function versionWithStage(metadata: DescribeSecretCommandOutput, stage: string): string | undefined {
  return Object.entries(metadata.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes(stage))?.[0];
}

/**
 * The promotion time of `ctx.token`, from the secret's tag if an earlier
 * attempt wrote it, otherwise now (we are just past the promotion) recorded in
 * the tag. Recording it before any redeploy means a retry never redeploys a
 * service twice for one version.
 */
async function promotionTime(ctx: StepContext): Promise<Date> {
  const tag = ctx.metadata.Tags?.find((t) => t.Key === PROMOTED_TAG_KEY)?.Value;
  const [versionId, iso] = (tag ?? '').split(' ');
  if (versionId === ctx.token && iso !== undefined && !Number.isNaN(Date.parse(iso))) {
    return new Date(iso);
  }
  const now = new Date();
  await ctx.sm.send(new TagResourceCommand({
    SecretId: ctx.secretArn, Tags: [{ Key: PROMOTED_TAG_KEY, Value: `${ctx.token} ${now.toISOString()}` }],
  }));
  return now;
}
