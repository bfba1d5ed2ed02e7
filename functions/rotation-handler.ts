import { ECSClient } from '@aws-sdk/client-ecs';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { scheduledDeletionMessage, scheduledDeletionOf } from '../core/scheduled-deletion';
import { FunctionBundle } from '../lib/contract';
import { AWS_CLIENT_OPTIONS, AwsServices, explainUnreachable } from './aws-clients';
import { readFunctionConfig } from './config';
import { log } from './log';
import { finishSecret } from './finish-secret';
import { StepContext } from './step-context';
import { createSecret, setSecret, testSecret } from './steps';

/** What Secrets Manager sends to a rotation function. */
export interface RotationEvent {
  readonly Step: string;
  readonly SecretId: string;
  readonly ClientRequestToken: string;
  readonly RotationToken?: string;
}

// Created once per container and reused across invocations. Short network timeouts: in a VPC without a path to
// a service, a call fails in seconds naming the endpoint, not when the function times out (see aws-clients.ts).
const sm = explainUnreachable(new SecretsManagerClient(AWS_CLIENT_OPTIONS), AwsServices.SECRETS_MANAGER);
// Our own jittered retry handles throttling, so it can count and bound it.
const ecs = explainUnreachable(new ECSClient({ ...AWS_CLIENT_OPTIONS, maxAttempts: 1 }), AwsServices.ECS);
const ssm = explainUnreachable(new SSMClient(AWS_CLIENT_OPTIONS), AwsServices.SSM);
// Used only by the access-key signer; creating a client makes no call.
const iam = explainUnreachable(new IAMClient(AWS_CLIENT_OPTIONS), AwsServices.IAM);
// Throttling retried by our own retry too (functions/function-env-update.ts); creating it makes no call.
const lambda = explainUnreachable(new LambdaClient({ ...AWS_CLIENT_OPTIONS, maxAttempts: 1 }), AwsServices.LAMBDA);

const STEPS: Record<string, (ctx: StepContext) => Promise<void>> = { createSecret, setSecret, testSecret, finishSecret };

/**
 * Secrets Manager's four-step rotation contract, with the canonical guards
 * first. One deliberate difference: when the version is already AWSCURRENT,
 * finishSecret still completes the redeploys, because a failed redeploy after
 * promotion is retried with the version already promoted.
 */
export async function handler(event: RotationEvent): Promise<void> {
  const { Step: step, SecretId: secretId, ClientRequestToken: versionId } = event ?? {};
  // A string and an own key only: ['createSecret'] or an object whose toString names a step would pass a
  // key lookup (keys are converted to strings), and 'toString' or '__proto__' are inherited names.
  const run = typeof step === 'string' && Object.hasOwn(STEPS, step) ? STEPS[step] : undefined;
  if (run === undefined) throw new Error(`Unknown rotation step ${describeStep(step)}: expected ${Object.keys(STEPS).join(', ')}`);
  if (!isNonEmptyString(secretId) || !isNonEmptyString(versionId)) {
    throw new Error('The rotation event must carry SecretId and ClientRequestToken as non-empty strings');
  }

  const metadata = await sm.send(new DescribeSecretCommand({ SecretId: secretId }));
  const secretArn = metadata.ARN ?? secretId;
  const fields = { step, secretArn, versionId };
  const deletedDate = scheduledDeletionOf(metadata);
  if (deletedDate !== undefined) {
    // Before every other guard: finishSecret of a version already AWSCURRENT would redeploy without touching the secret.
    const message = scheduledDeletionMessage(
      `Rotation step ${step}`,
      secretArn,
      deletedDate,
      'nothing was written, promoted or redeployed',
    );
    log.error('rotation stopped: the secret is scheduled for deletion', { ...fields, deletedDate: deletedDate.toISOString() });
    throw new Error(message);
  }
  if (!metadata.RotationEnabled) throw new Error(`Secret ${secretArn} does not have rotation enabled`);
  const stages = metadata.VersionIdsToStages?.[versionId];
  if (stages === undefined) throw new Error(`Secret version ${versionId} has no stage for rotation of secret ${secretArn}`);

  const ctx: StepContext = {
    sm,
    ecs,
    ssm,
    iam,
    lambda,
    config: readFunctionConfig(FunctionBundle.ROTATION),
    secretArn,
    versionId,
    metadata,
  };
  if (stages.includes('AWSCURRENT')) {
    if (step !== 'finishSecret') {
      log.info('version is already AWSCURRENT, nothing to do', fields);
      return;
    }
    log.info('version is already AWSCURRENT, completing redeploys', fields);
    return finishSecret(ctx);
  }
  if (!stages.includes('AWSPENDING')) {
    throw new Error(`Secret version ${versionId} is not set as AWSPENDING for rotation of secret ${secretArn}`);
  }
  log.info('step started', fields);
  await run(ctx);
  log.info('step finished', fields);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

/** A step as the error shows it: a string quoted, anything else as JSON with its type (never through its own toString). */
function describeStep(step: unknown): string {
  if (typeof step === 'string') return `'${step}'`;
  if (step === undefined) return '(missing)';
  const kind = step === null ? 'null' : Array.isArray(step) ? 'an array' : typeof step === 'object' ? 'an object' : `a ${typeof step}`;
  let json: string | undefined;
  try {
    json = JSON.stringify(step);
  } catch {
    // BigInt or a cycle: the type says enough.
  }
  return `${(json ?? '').slice(0, 100)} (${kind}, not a string)`.trimStart();
}
