import { ECSClient } from '@aws-sdk/client-ecs';
import { IAMClient } from '@aws-sdk/client-iam';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { readConfig } from './config';
import { log } from './log';
import { createSecret, finishSecret, setSecret, StepContext, testSecret } from './steps';

// One bundle, three functions: each function's `handler` setting names its export.
export { watchdogHandler } from './watchdog';
export { initialRotationHandler } from './initial-rotation';

/** What Secrets Manager sends to a rotation function. */
export interface RotationEvent {
  readonly Step: string;
  readonly SecretId: string;
  readonly ClientRequestToken: string;
  readonly RotationToken?: string;
}

// Created once per container and reused across invocations.
const sm = new SecretsManagerClient({});
// Our own jittered retry handles throttling, so it can count and bound it.
const ecs = new ECSClient({ maxAttempts: 1 });
const ssm = new SSMClient({});
// Used only by the access-key signer; creating a client makes no call.
const iam = new IAMClient({});

const STEPS: Record<string, (ctx: StepContext) => Promise<void>> = { createSecret, setSecret, testSecret, finishSecret };

/**
 * Secrets Manager's four-step rotation contract, with the canonical guards
 * first. One deliberate difference: when the version is already AWSCURRENT,
 * finishSecret still completes the redeploys, because a failed redeploy after
 * promotion is retried with the version already promoted.
 */
export async function handler(event: RotationEvent): Promise<void> {
  const { Step: step, SecretId: secretId, ClientRequestToken: token } = event ?? {};
  // Own keys only: 'toString' or '__proto__' must not pass for a step.
  const run = Object.hasOwn(STEPS, step) ? STEPS[step] : undefined;
  if (run === undefined) throw new Error(`Unknown rotation step '${step}': expected createSecret, setSecret, testSecret or finishSecret`);
  if (!secretId || !token) throw new Error('The rotation event must carry SecretId and ClientRequestToken');

  const metadata = await sm.send(new DescribeSecretCommand({ SecretId: secretId }));
  const secretArn = metadata.ARN ?? secretId;
  const fields = { step, secretArn, versionId: token };
  if (!metadata.RotationEnabled) throw new Error(`Secret ${secretArn} does not have rotation enabled`);
  const stages = metadata.VersionIdsToStages?.[token];
  if (stages === undefined) throw new Error(`Secret version ${token} has no stage for rotation of secret ${secretArn}`);

  const ctx: StepContext = { sm, ecs, ssm, iam, config: readConfig(), secretArn, token, metadata };
  if (stages.includes('AWSCURRENT')) {
    if (step !== 'finishSecret') {
      log.info('version is already AWSCURRENT, nothing to do', fields);
      return;
    }
    log.info('version is already AWSCURRENT, completing redeploys', fields);
    return finishSecret(ctx);
  }
  if (!stages.includes('AWSPENDING')) {
    throw new Error(`Secret version ${token} is not set as AWSPENDING for rotation of secret ${secretArn}`);
  }
  log.info('step started', fields);
  await run(ctx);
  log.info('step finished', fields);
}
