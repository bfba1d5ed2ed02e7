import {
  DescribeSecretCommand,
  ListSecretVersionIdsCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { isRotationInProgressError } from '../core/rotation-errors';
import { RotationState, rotationStateOf } from '../core/rotation-state';
import { scheduledDeletionMessage, scheduledDeletionOf } from '../core/scheduled-deletion';
import { versionCreationDates } from '../core/version-dates';
import { DsqlUrlSecretValue, FunctionBundle, MetricName, WatchdogFunctionConfig } from '../lib/contract';
import { AWS_CLIENT_OPTIONS, AwsServices, explainUnreachable } from './aws-clients';
import { readFunctionConfig } from './config';
import { checkConnection } from './connection-check';
import { log } from './log';
import { emitMetrics } from './metrics';
import { readCurrentValue } from './secret-values';
import { decideWatchdogAction, WatchdogAction } from './watchdog-decision';

/** What the construct configured for the watchdog function. */
export type WatchdogConfig = WatchdogFunctionConfig;

export function readWatchdogConfig(env: NodeJS.ProcessEnv = process.env): WatchdogConfig {
  return readFunctionConfig(FunctionBundle.WATCHDOG, env);
}

export interface WatchdogResult {
  readonly action: WatchdogAction['action'];
  readonly reason: string;
  /** Whether a connection with AWSCURRENT's URL succeeded (false for the placeholder). */
  readonly connected: boolean;
  /** Seconds until AWSCURRENT's expiresAt; undefined when it holds no token. */
  readonly secondsLeft: number | undefined;
  readonly rotationInProgress: boolean;
  readonly rotationStarted: boolean;
  /** Versions of failed rotations whose AWSPENDING label was removed. */
  readonly clearedPendingVersions: readonly string[];
}

export interface WatchdogOptions {
  readonly sm?: SecretsManagerClient;
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => Date;
}

let defaultClient: SecretsManagerClient | undefined;

/** EventBridge's scheduled event carries nothing the watchdog needs. */
export async function watchdogHandler(): Promise<WatchdogResult> {
  return runWatchdog();
}

/**
 * Checks that AWSCURRENT's URL still connects and has enough life left for a
 * rotation plus a rollout; starts a rotation when not. Clears the AWSPENDING
 * label of a failed rotation, which would otherwise block every later one.
 * Emits TokenCheckFailed, TokenSecondsLeft and WatchdogRotationStarted, and
 * logs one line with the decision. Never logs the URL or the token. Fails,
 * changing nothing, while the secret is scheduled for deletion.
 */
export async function runWatchdog(options: WatchdogOptions = {}): Promise<WatchdogResult> {
  const config = readWatchdogConfig(options.env ?? process.env);
  // Short network timeouts: without a path to Secrets Manager the check fails in seconds, naming the endpoint.
  const sm =
    options.sm ?? (defaultClient ??= explainUnreachable(new SecretsManagerClient(AWS_CLIENT_OPTIONS), AwsServices.SECRETS_MANAGER));
  const now = options.now?.() ?? new Date();

  const metadata = await sm.send(new DescribeSecretCommand({ SecretId: config.secretArn }));
  const secretArn = metadata.ARN ?? config.secretArn;
  const dimension = config.metricDimension;
  const deletedDate = scheduledDeletionOf(metadata);
  if (deletedDate !== undefined) stopForScheduledDeletion(secretArn, dimension, deletedDate, now);
  const state = rotationStateOf(metadata);

  const { rotationInProgress, cleared } = await clearStalePending(sm, state, secretArn, config.stalePendingSeconds, now);

  const value = (await readCurrentValue(sm, secretArn))?.value;
  let connected = false;
  let checkFailure: string | undefined;
  if (value !== undefined && typeof value.url === 'string' && value.url !== '') {
    try {
      await checkConnection(value as DsqlUrlSecretValue, config.connectTimeoutSeconds);
      connected = true;
    } catch (err) {
      checkFailure = (err as Error).message.replace(/^testSecret: /, '');
    }
  } else {
    checkFailure = value === undefined ? 'AWSCURRENT is not a JSON secret value' : 'AWSCURRENT is the placeholder: no token yet';
  }
  const expiresMs = typeof value?.expiresAt === 'string' ? Date.parse(value.expiresAt) : NaN;
  const expiresAt = Number.isNaN(expiresMs) ? undefined : new Date(expiresMs);
  const secondsLeft = expiresAt === undefined ? undefined : Math.round((expiresAt.getTime() - now.getTime()) / 1000);

  const deferredUntil = state.deferred?.until;
  let decision: WatchdogAction = decideWatchdogAction({
    now,
    expiresAt,
    connected,
    rotationInProgress,
    rotateBeforeExpirySeconds: config.rotateBeforeExpirySeconds,
    deferredUntil,
  });
  let rotationStarted = false;
  let rotateError: unknown;
  if (decision.action === 'rotate') {
    try {
      // No rules and no function: the rotation the construct configured.
      await sm.send(new RotateSecretCommand({ SecretId: secretArn }));
      rotationStarted = true;
    } catch (err) {
      if (isRotationInProgressError(err)) {
        decision = { action: 'wait', reason: `${decision.reason}; RotateSecret answered that a rotation is already in progress` };
      } else {
        rotateError = err;
      }
    }
  }

  emitMetrics(
    dimension,
    [
      { name: MetricName.TOKEN_CHECK_FAILED, value: connected ? 0 : 1, unit: 'Count' },
      // No token is no time left.
      { name: MetricName.TOKEN_SECONDS_LEFT, value: secondsLeft ?? 0, unit: 'Seconds' },
      { name: MetricName.WATCHDOG_ROTATION_STARTED, value: rotationStarted ? 1 : 0, unit: 'Count' },
    ],
    now,
  );
  const fields = {
    secretArn,
    action: decision.action,
    reason: decision.reason,
    connected,
    secondsLeft,
    rotationInProgress,
    rotationStarted,
    clearedPendingVersions: cleared.length,
    checkFailure,
    deferredUntil: deferredUntil?.toISOString(),
  };
  if (rotateError !== undefined) {
    const e = rotateError as { name?: string; message?: string };
    log.error('watchdog: could not start a rotation', { ...fields, error: e.name, detail: e.message });
    throw new Error(
      `watchdog: RotateSecret on ${secretArn} failed (${e.name ?? 'Error'}: ${e.message ?? String(rotateError)}) ` +
        `after deciding to rotate because ${decision.reason}`,
    );
  }
  (decision.action === 'none' ? log.info : log.warn)('watchdog: decision', fields);
  return {
    action: decision.action,
    reason: decision.reason,
    connected,
    secondsLeft,
    rotationInProgress,
    rotationStarted,
    clearedPendingVersions: cleared,
  };
}

/**
 * A secret scheduled for deletion has no URL to serve new tasks (AWS refuses
 * GetSecretValue) and refuses rotation, so neither rotating nor clearing a
 * pending version can help: the watchdog changes nothing and fails, every
 * interval, so that it never looks healthy. TokenCheckFailed is 1 (the token
 * check alarm fires) and the invocation's error counts for the watchdog alarm.
 */
function stopForScheduledDeletion(secretArn: string, dimension: string, deletedDate: Date, now: Date): never {
  emitMetrics(
    dimension,
    [
      { name: MetricName.TOKEN_CHECK_FAILED, value: 1, unit: 'Count' },
      { name: MetricName.WATCHDOG_ROTATION_STARTED, value: 0, unit: 'Count' },
    ],
    now,
  );
  log.error('watchdog: the secret is scheduled for deletion', { secretArn, deletedDate: deletedDate.toISOString() });
  throw new Error(scheduledDeletionMessage('watchdog', secretArn, deletedDate, 'no rotation was started and no stage was changed'));
}

/**
 * A version with AWSPENDING but not AWSCURRENT is a rotation in progress when
 * it is younger than `stalePendingSeconds`, else a failed rotation: its
 * AWSPENDING label is removed so that the next RotateSecret can start.
 */
async function clearStalePending(
  sm: SecretsManagerClient,
  state: RotationState,
  secretArn: string,
  stalePendingSeconds: number,
  now: Date,
): Promise<{ rotationInProgress: boolean; cleared: string[] }> {
  // Secrets Manager puts AWSPENDING on one version at most.
  const pending = [state.pending].filter((id): id is string => id !== undefined);
  const cleared: string[] = [];
  if (pending.length === 0) return { rotationInProgress: false, cleared };

  const createdAt = await versionCreationDates((NextToken) =>
    sm.send(new ListSecretVersionIdsCommand({ SecretId: secretArn, NextToken, MaxResults: 100 })),
  );
  let rotationInProgress = false;
  for (const versionId of pending) {
    const created = createdAt.get(versionId);
    const ageSeconds = created === undefined ? undefined : Math.round((now.getTime() - created.getTime()) / 1000);
    if (ageSeconds === undefined || ageSeconds <= stalePendingSeconds) {
      // Unknown age: assume a running rotation rather than break one.
      rotationInProgress = true;
      continue;
    }
    await sm.send(new UpdateSecretVersionStageCommand({ SecretId: secretArn, VersionStage: 'AWSPENDING', RemoveFromVersionId: versionId }));
    cleared.push(versionId);
    log.warn('watchdog: removed AWSPENDING from the version of a rotation that failed; it blocked every later rotation', {
      secretArn,
      versionId,
      ageSeconds,
      stalePendingSeconds,
      currentVersionId: state.current,
    });
  }
  return { rotationInProgress, cleared };
}
