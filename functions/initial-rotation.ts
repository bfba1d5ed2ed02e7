import { IAMClient } from '@aws-sdk/client-iam';
import {
  DescribeSecretCommand,
  DescribeSecretCommandOutput,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { redact } from '../core/redact';
import { isRotationInProgressError } from '../core/rotation-errors';
import { rotationStateOf } from '../core/rotation-state';
import { FunctionBundle, InitialRotationFunctionConfig } from '../lib/contract';
import { CustomResourceEvent, CustomResourceResponse, sendResponse } from './cfn-response';
import { readFunctionConfig } from './config';
import { log } from './log';
import { readCurrentValue } from './secret-values';
import { deleteSignerKeys } from './signer-keys-cleanup';

/** The part of Lambda's context used: how long this invocation may still run. */
export interface LambdaContextLike {
  getRemainingTimeInMillis?(): number;
}

export interface InitialRotationOptions {
  readonly sm?: SecretsManagerClient;
  readonly iam?: IAMClient;
  readonly env?: NodeJS.ProcessEnv;
  /** Between two DescribeSecret calls while waiting (default 5 s). */
  readonly pollIntervalMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Milliseconds since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Waits between attempts to PUT the response (default 1 s, 3 s). */
  readonly responseRetryDelaysMs?: readonly number[];
}

const DEFAULT_POLL_INTERVAL_MS = 5_000;
/** Kept free at the end of the invocation to send the response. */
const RESPONSE_RESERVE_MS = 15_000;
/** CloudFormation rejects response bodies over 4 KiB. */
const MAX_REASON_LENGTH = 2_000;

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
let defaultSm: SecretsManagerClient | undefined;
let defaultIam: IAMClient | undefined;

/**
 * The first rotation, as a CloudFormation custom resource invoked directly
 * (ServiceToken = this function), so it answers on the ResponseURL itself.
 *
 * - Create and Update: if AWSCURRENT already holds a URL, succeed at once
 *   (later stack updates neither rotate nor redeploy anything). Otherwise
 *   start a rotation (or join the one in progress) and wait until a version
 *   with a URL is AWSCURRENT; fail after the configured timeoutSeconds
 *   with a message that says where to look.
 * - Delete: remove the access keys the rotation function created for the
 *   signer user (signerUserName, when there is one), because CloudFormation
 *   cannot delete a user that still has keys. Nothing else.
 *
 * The physical id is the secret ARN and never changes, so an update never
 * replaces the resource. Every outcome, errors included, is answered.
 */
export async function initialRotationHandler(event: CustomResourceEvent, context?: LambdaContextLike): Promise<CustomResourceResponse> {
  return runInitialRotation(event, context);
}

export async function runInitialRotation(
  event: CustomResourceEvent,
  context?: LambdaContextLike,
  options: InitialRotationOptions = {},
): Promise<CustomResourceResponse> {
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const startedAt = now();
  // Read before anything can fail, but its error is answered like any other, below.
  let config: InitialRotationFunctionConfig | undefined;
  let configError: unknown;
  try {
    config = readFunctionConfig(FunctionBundle.INITIAL_ROTATION, env);
  } catch (err) {
    configError = err;
  }
  const secretArn = config?.secretArn;
  const physicalId = event.PhysicalResourceId ?? (secretArn || event.LogicalResourceId);
  const fields = {
    requestType: event.RequestType,
    logicalResourceId: event.LogicalResourceId,
    stackId: event.StackId,
    requestId: event.RequestId,
  };
  log.info('initial rotation: request received', { ...fields, secretArn });

  let status: CustomResourceResponse['Status'] = 'SUCCESS';
  let reason: string;
  try {
    if (config === undefined) throw configError;
    if (event.RequestType === 'Delete') {
      reason = await deleteSignerKeys(options.iam ?? (defaultIam ??= new IAMClient({})), config.signerUserName);
    } else if (event.RequestType === 'Create' || event.RequestType === 'Update') {
      const { secretArn: arn, timeoutSeconds } = config;
      const remaining = context?.getRemainingTimeInMillis?.();
      // Never outlive the invocation: CloudFormation would wait an hour for an answer that never comes.
      const deadline = Math.min(
        startedAt + timeoutSeconds * 1000,
        remaining === undefined ? Infinity : startedAt + remaining - RESPONSE_RESERVE_MS,
      );
      reason = await ensureFirstRotation({
        sm: options.sm ?? (defaultSm ??= new SecretsManagerClient({})),
        secretArn: arn,
        deadline,
        startedAt,
        now,
        sleep: options.sleep ?? sleepFor,
        pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
      });
    } else {
      throw new Error(`Unknown RequestType '${String((event as { RequestType?: unknown }).RequestType)}'`);
    }
  } catch (err) {
    status = 'FAILED';
    reason = (err as Error)?.message ?? String(err);
  }
  reason = redact(reason);
  if (reason.length > MAX_REASON_LENGTH) reason = `${reason.slice(0, MAX_REASON_LENGTH - 1)}…`;
  const response: CustomResourceResponse = {
    Status: status,
    Reason: reason,
    PhysicalResourceId: physicalId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  };
  (status === 'SUCCESS' ? log.info : log.error)('initial rotation: responding', { ...fields, status, reason });
  await sendResponse(event.ResponseURL, response, options.responseRetryDelaysMs ?? [1_000, 3_000], options.sleep ?? sleepFor);
  return response;
}

interface WaitContext {
  readonly sm: SecretsManagerClient;
  readonly secretArn: string;
  readonly deadline: number;
  readonly startedAt: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly pollIntervalMs: number;
}

/** Returns the success reason; throws with the failure reason. */
async function ensureFirstRotation(w: WaitContext): Promise<string> {
  const fields = { secretArn: w.secretArn };
  if (await currentHasUrl(w.sm, w.secretArn)) {
    log.info('initial rotation: the secret already holds a URL, nothing to do', fields);
    return `The secret ${w.secretArn} already holds a URL; nothing to do`;
  }

  let metadata = await w.sm.send(new DescribeSecretCommand({ SecretId: w.secretArn }));
  const placeholderVersion = rotationStateOf(metadata).current;
  const running = rotationStateOf(metadata).pending;
  if (running !== undefined) {
    log.info('initial rotation: a rotation is already in progress, waiting for it', { ...fields, versionId: running });
  } else {
    try {
      const out = await w.sm.send(new RotateSecretCommand({ SecretId: w.secretArn }));
      log.info('initial rotation: started the first rotation', { ...fields, versionId: out.VersionId });
    } catch (err) {
      if (!isRotationInProgressError(err)) {
        const e = err as { name?: string; message?: string };
        throw new Error(`Could not start the first rotation of secret ${w.secretArn}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`);
      }
      log.info('initial rotation: RotateSecret answered that a rotation is in progress, waiting for it', fields);
    }
  }

  for (;;) {
    const left = w.deadline - w.now();
    if (left <= 0) break;
    await w.sleep(Math.min(w.pollIntervalMs, left));
    metadata = await w.sm.send(new DescribeSecretCommand({ SecretId: w.secretArn }));
    // The placeholder is AWSCURRENT until finishSecret moves the label; a new holder is the rotated version.
    const versionId = rotationStateOf(metadata).current;
    if (versionId !== placeholderVersion && (await currentHasUrl(w.sm, w.secretArn))) {
      log.info('initial rotation: the first rotation completed', {
        ...fields,
        versionId,
        seconds: Math.round((w.now() - w.startedAt) / 1000),
      });
      return `The first rotation of ${w.secretArn} completed: version ${versionId} is AWSCURRENT`;
    }
  }
  throw new Error(timeoutMessage(w.secretArn, Math.round((w.now() - w.startedAt) / 1000), metadata));
}

function timeoutMessage(secretArn: string, seconds: number, metadata: DescribeSecretCommandOutput): string {
  const functionName = metadata.RotationLambdaARN?.split(':')[6];
  const where = functionName
    ? `its CloudWatch log group /aws/lambda/${functionName}`
    : "the rotation function's CloudWatch log group (/aws/lambda/<function name>)";
  return (
    `The first rotation of secret ${secretArn} did not complete within ${seconds} s. ` +
    `The rotation function logs the step that failed and why in ${where}. Usual causes: ` +
    'the signing identity lacks dsql:DbConnectAdmin (admin) or dsql:DbConnect (custom role) on the cluster; ' +
    'the rotation function has no network path to the cluster endpoint (VPC routing, NAT or the DSQL VPC endpoint, security groups); ' +
    "a custom database role was not granted to the signer: AWS IAM GRANT <role> TO '<signer IAM ARN>'."
  );
}

/** Whether AWSCURRENT has a non-empty url (the placeholder's is empty). */
async function currentHasUrl(sm: SecretsManagerClient, secretArn: string): Promise<boolean> {
  const url = (await readCurrentValue(sm, secretArn))?.value.url;
  return typeof url === 'string' && url !== '';
}
