import { ECSClient } from '@aws-sdk/client-ecs';
import { LambdaClient } from '@aws-sdk/client-lambda';
import {
  DescribeSecretCommand,
  ListSecretVersionIdsCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { CurrentToken } from '../core/fleet';
import { isRotationInProgressError } from '../core/rotation-errors';
import { RotationState, rotationStateOf } from '../core/rotation-state';
import { scheduledDeletionMessage, scheduledDeletionOf } from '../core/scheduled-deletion';
import { versionCreationDates } from '../core/version-dates';
import { DsqlUrlSecretValue, FunctionBundle, MetricName, WatchdogFunctionConfig } from '../lib/contract';
import { AWS_CLIENT_OPTIONS, AwsServices, explainUnreachable } from './aws-clients';
import { readFunctionConfig } from './config';
import { checkConnection } from './connection-check';
import { checkFleet, FleetSummary } from './fleet-check';
import { checkFunctions, FunctionCheckSummary } from './function-check';
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
  /** The fleet check: the bound services' running tasks, their tokens and the heals started. */
  readonly fleet: FleetSummary;
  /** The bound Lambda functions' values compared with AWSCURRENT, and the stale ones written again. */
  readonly functions: FunctionCheckSummary;
}

export interface WatchdogOptions {
  readonly sm?: SecretsManagerClient;
  readonly ssm?: SSMClient;
  readonly ecs?: ECSClient;
  readonly lambda?: LambdaClient;
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => Date;
}

let defaultClients: { sm: SecretsManagerClient; ssm: SSMClient; ecs: ECSClient; lambda: LambdaClient } | undefined;

/** Short network timeouts: without a path to a service the check fails in seconds, naming the endpoint. */
function clients(): { sm: SecretsManagerClient; ssm: SSMClient; ecs: ECSClient; lambda: LambdaClient } {
  return (defaultClients ??= {
    sm: explainUnreachable(new SecretsManagerClient(AWS_CLIENT_OPTIONS), AwsServices.SECRETS_MANAGER),
    ssm: explainUnreachable(new SSMClient(AWS_CLIENT_OPTIONS), AwsServices.SSM),
    ecs: explainUnreachable(new ECSClient(AWS_CLIENT_OPTIONS), AwsServices.ECS),
    lambda: explainUnreachable(new LambdaClient(AWS_CLIENT_OPTIONS), AwsServices.LAMBDA),
  });
}

/** EventBridge's scheduled event carries nothing the watchdog needs. */
export async function watchdogHandler(): Promise<WatchdogResult> {
  return runWatchdog();
}

/**
 * Checks that AWSCURRENT's URL still connects and has enough life left for a
 * rotation plus a rollout; starts a rotation when not. Clears the AWSPENDING
 * label of a failed rotation, which would otherwise block every later one.
 * Emits TokenCheckFailed, TokenSecondsLeft and WatchdogRotationStarted, and
 * logs one line with the decision. Then runs the fleet check
 * (functions/fleet-check.ts). Never logs the URL or the token. Fails,
 * changing nothing, while the secret is scheduled for deletion; fails after
 * everything ran (the error's `result` holds the WatchdogResult) when
 * RotateSecret failed or the fleet check could not see or heal every service.
 */
export async function runWatchdog(options: WatchdogOptions = {}): Promise<WatchdogResult> {
  const config = readWatchdogConfig(options.env ?? process.env);
  const sm = options.sm ?? clients().sm;
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
  if (rotateError === undefined) (decision.action === 'none' ? log.info : log.warn)('watchdog: decision', fields);
  else logRotateError(rotateError, fields);

  // After the token check's metrics: a fleet check that fails or hangs until the timeout cannot hide them.
  // The bound functions are checked beside the fleet; neither check throws.
  const [fleet, functions] = await Promise.all([
    checkFleet({
      ssm: options.ssm ?? clients().ssm,
      ecs: options.ecs ?? clients().ecs,
      config,
      secretArn,
      metadata,
      current: currentToken(value?.url, value?.issuedAt, expiresAt),
      now,
    }),
    checkFunctions({ lambda: options.lambda ?? clients().lambda, ssm: options.ssm ?? clients().ssm, sm, config, secretArn, value, now }),
  ]);
  const result: WatchdogResult = {
    action: decision.action,
    reason: decision.reason,
    connected,
    secondsLeft,
    rotationInProgress,
    rotationStarted,
    clearedPendingVersions: cleared,
    fleet,
    functions,
  };
  if (rotateError !== undefined) throw Object.assign(rotateFailure(rotateError, secretArn, decision.reason), { result });
  // The fleet-token alarm treats missing data as fine, so a fleet check that cannot see the fleet must fail the
  // invocation for watchdogFailedAlarm to see it; only now, after the token check, the rotation and every metric.
  if (fleet.error !== undefined || fleet.failed.length > 0) throw Object.assign(new Error(fleetFailure(secretArn, fleet)), { result });
  // StaleFunctions is emitted whenever the parameters were read; only a check that could not read them is silent.
  if (functions.error !== undefined) {
    throw Object.assign(new Error(`watchdog: the token check of ${secretArn} ran, but the function check did not: ${functions.error}`), {
      result,
    });
  }
  return result;
}

function logRotateError(rotateError: unknown, fields: Record<string, string | number | boolean | undefined>): void {
  const e = rotateError as { name?: string; message?: string };
  log.error('watchdog: could not start a rotation', { ...fields, error: e.name, detail: e.message });
}

function rotateFailure(rotateError: unknown, secretArn: string, reason: string): Error {
  const e = rotateError as { name?: string; message?: string };
  return new Error(
    `watchdog: RotateSecret on ${secretArn} failed (${e.name ?? 'Error'}: ${e.message ?? String(rotateError)}) ` +
      `after deciding to rotate because ${reason}`,
  );
}

function fleetFailure(secretArn: string, fleet: FleetSummary): string {
  const what =
    fleet.error ?? `${fleet.failed.length} bound services could not be checked or healed: ${fleet.failed.slice(0, 5).join(', ')}`;
  return (
    `watchdog: the token check of ${secretArn} ran, but the fleet check did not: ${what}${fleet.failed.length > 5 ? ', ...' : ''}; ` +
    "see the watchdog's log lines starting with 'fleet check'"
  );
}

/** AWSCURRENT's token dates, when it holds a token (not the placeholder) with both dates readable. */
function currentToken(url: unknown, issuedAt: unknown, expiresAt: Date | undefined): CurrentToken | undefined {
  const issuedMs = typeof issuedAt === 'string' ? Date.parse(issuedAt) : NaN;
  if (typeof url !== 'string' || url === '' || expiresAt === undefined || Number.isNaN(issuedMs)) return undefined;
  return { issuedAt: new Date(issuedMs), expiresAt };
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
