import { DSQLClient } from '@aws-sdk/client-dsql';
import { IAMClient } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { FunctionBundle, InitialRotationFunctionConfig } from '../lib/contract';
import { answer, CustomResourceEvent, CustomResourceResponse } from './cfn-response';
import { AWS_CLIENT_OPTIONS, AwsServices, explainUnreachable } from './aws-clients';
import { readFunctionConfig } from './config';
import { ensureFirstRotation } from './first-rotation';
import { log } from './log';
import { newRoleGrantCheck, ConnectionCheck } from './role-grant-check';
import { rotationRequestOf } from './settings-change';
import { deleteSignerKeys } from './signer-keys-cleanup';

/** The part of Lambda's context used: how long this invocation may still run. */
export interface LambdaContextLike {
  getRemainingTimeInMillis?(): number;
}

export interface InitialRotationOptions {
  readonly sm?: SecretsManagerClient;
  readonly iam?: IAMClient;
  /** The cluster's control plane (default: a client for the configured clusterRegion). */
  readonly dsql?: DSQLClient;
  readonly env?: NodeJS.ProcessEnv;
  /** Between two DescribeSecret calls while waiting (default 5 s). */
  readonly pollIntervalMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Milliseconds since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Waits between attempts to PUT the response (default 1 s, 3 s). */
  readonly responseRetryDelaysMs?: readonly number[];
  /** Delete: waited before listing the signer's keys again (default 10 s). */
  readonly keysQuietMs?: number;
  /** The connection check of roleGrantCheck (default: connection-check.ts, loaded on first use). */
  readonly connectionCheck?: ConnectionCheck;
}

const DEFAULT_POLL_INTERVAL_MS = 5_000;
/** Kept free at the end of the invocation to send the response. */
const RESPONSE_RESERVE_MS = 15_000;

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
let defaultSm: SecretsManagerClient | undefined;
let defaultIam: IAMClient | undefined;
let defaultDsql: DSQLClient | undefined;
// Short network timeouts (see aws-clients.ts): a stalled call fails in seconds, well before CloudFormation's wait.
const newSecretsManagerClient = () => explainUnreachable(new SecretsManagerClient(AWS_CLIENT_OPTIONS), AwsServices.SECRETS_MANAGER);

/**
 * The first rotation, as a CloudFormation custom resource invoked directly
 * (ServiceToken = this function), so it answers on the ResponseURL itself.
 *
 * - Create and Update: if AWSCURRENT already holds a URL with the settings
 *   in the properties (UrlSettings), succeed at once (stack updates that do
 *   not change the URL neither rotate nor redeploy anything). Otherwise (the
 *   placeholder, or a stack update changed what shapes the URL or the
 *   signer: settings-change.ts) wait for the cluster to accept connections,
 *   start a rotation (or join the one in progress), re-drive it if it fails,
 *   and wait until a new version with the settings is AWSCURRENT
 *   (first-rotation.ts); fail after the configured timeoutSeconds with a
 *   message that says where to look.
 * - Delete: stop rotation and remove the access keys the rotation function
 *   created for the signer user (signerUserName, when there is one), because
 *   CloudFormation cannot delete a user that still has keys
 *   (signer-keys-cleanup.ts). Nothing else.
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
      reason = await deleteSignerKeys({
        sm: options.sm ?? (defaultSm ??= newSecretsManagerClient()),
        iam: options.iam ?? (defaultIam ??= explainUnreachable(new IAMClient(AWS_CLIENT_OPTIONS), AwsServices.IAM)),
        secretArn: config.secretArn,
        userName: config.signerUserName,
        sleep: options.sleep ?? sleepFor,
        quietMs: options.keysQuietMs,
      });
    } else if (event.RequestType === 'Create' || event.RequestType === 'Update') {
      const { secretArn: arn, timeoutSeconds } = config;
      // What AWSCURRENT must carry: after a configuration change, a rotation with the new settings.
      const request = rotationRequestOf(event);
      const remaining = context?.getRemainingTimeInMillis?.();
      // Never outlive the invocation: CloudFormation would wait an hour for an answer that never comes.
      const deadline = Math.min(
        startedAt + timeoutSeconds * 1000,
        remaining === undefined ? Infinity : startedAt + remaining - RESPONSE_RESERVE_MS,
      );
      reason = await ensureFirstRotation({
        sm: options.sm ?? (defaultSm ??= newSecretsManagerClient()),
        dsql:
          options.dsql ??
          (defaultDsql ??= explainUnreachable(new DSQLClient({ ...AWS_CLIENT_OPTIONS, region: config.clusterRegion }), AwsServices.DSQL)),
        secretArn: arn,
        rotationLogGroup: config.rotationLogGroupName,
        settings: request.settings,
        rotateAnyway: request.rotateAnyway,
        cluster: { identifier: config.clusterIdentifier, region: config.clusterRegion },
        deadline,
        startedAt,
        now,
        sleep: options.sleep ?? sleepFor,
        pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
        redriveAfterMs: config.redriveAfterSeconds * 1000,
        maxAttempts: config.maxRotationAttempts,
        pendingCheck:
          config.roleGrantCheck === null
            ? undefined
            : newRoleGrantCheck({
                sm: options.sm ?? defaultSm!,
                secretArn: arn,
                config: config.roleGrantCheck,
                now,
                check: options.connectionCheck,
              }),
      });
    } else {
      throw new Error(`Unknown RequestType '${String((event as { RequestType?: unknown }).RequestType)}'`);
    }
  } catch (err) {
    status = 'FAILED';
    reason = (err as Error)?.message ?? String(err);
  }
  return answer(event, {
    status,
    reason,
    physicalResourceId: physicalId,
    logMessage: 'initial rotation: responding',
    logFields: fields,
    retryDelaysMs: options.responseRetryDelaysMs,
    sleep: options.sleep,
  });
}
