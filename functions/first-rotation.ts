import { DSQLClient } from '@aws-sdk/client-dsql';
import {
  DescribeSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { isRotationInProgressError } from '../core/rotation-errors';
import { RotationState, rotationStateOf } from '../core/rotation-state';
import { settingsMismatch, UrlSettings } from '../core/url-settings';
import { waitForCluster } from './cluster-readiness';
import { log } from './log';
import { readCurrentValue } from './secret-values';

export interface WaitContext {
  readonly sm: SecretsManagerClient;
  readonly dsql: DSQLClient;
  readonly secretArn: string;
  /** The rotation function's log group, where a failed wait says to look. */
  readonly rotationLogGroup: string;
  readonly cluster: { readonly identifier: string; readonly region: string };
  /** Milliseconds since the epoch after which waiting fails. */
  readonly deadline: number;
  readonly startedAt: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly pollIntervalMs: number;
  /** A rotation still AWSPENDING this long after it was started is cleared and started again. */
  readonly redriveAfterMs: number;
  /** Rotations started at most (the first one included). */
  readonly maxAttempts: number;
  /** What AWSCURRENT must carry (settings-change.ts); undefined: any URL will do. */
  readonly settings?: UrlSettings;
  /** Rotate even if AWSCURRENT already carries the settings (the signer changed): only a newer version will do. */
  readonly rotateAnyway?: boolean;
  /** Run at each poll with the AWSPENDING version; throws to fail the wait at once (role-grant-check.ts). */
  readonly pendingCheck?: (pendingVersion: string) => Promise<void>;
}

/** One rotation the wait started (or joined): its version, once known, and when it started. */
export interface Attempt {
  readonly number: number;
  /** Unknown when RotateSecret answered that another rotation is in progress, until DescribeSecret names it. */
  readonly versionId?: string;
  readonly startedAt: number;
  /** DescribeSecret has shown its version holding AWSPENDING. */
  readonly seenPending?: boolean;
}

/**
 * Whether a rotation has failed, from DescribeSecret alone (it carries no
 * failure flag, and Secrets Manager leaves AWSPENDING on a failed rotation's
 * version whether it is still retrying or has given up):
 * - `stalled`: its version is still AWSPENDING `redriveAfterMs` after it
 *   started. The first rotation has no bound service to redeploy yet, so a
 *   healthy one completes in well under a minute; steps that Secrets Manager
 *   retries are no likelier to pass for being given longer.
 * - `lost`: its version holds neither AWSPENDING nor AWSCURRENT, after it was
 *   seen pending (or once it is as old as a stall): something (the watchdog,
 *   an operator) cleared it.
 */
export function attemptFailure(
  attempt: Attempt,
  state: RotationState,
  now: number,
  redriveAfterMs: number,
): 'lost' | 'stalled' | undefined {
  if (attempt.versionId !== undefined && state.current === attempt.versionId) return undefined;
  const old = now - attempt.startedAt >= redriveAfterMs;
  if (attempt.versionId !== undefined && state.pending === attempt.versionId) return old ? 'stalled' : undefined;
  return attempt.seenPending || old ? 'lost' : undefined;
}

/**
 * The wait of Create and Update. Returns the success reason; throws with the
 * failure reason. When AWSCURRENT already holds a URL nothing happens.
 * Otherwise: join a rotation in progress, or wait for the cluster to accept
 * connections and start one; then poll until a version with a URL is
 * AWSCURRENT. A failed rotation (see attemptFailure) is cleared and started
 * again, up to maxAttempts rotations, all within the deadline.
 */
export async function ensureFirstRotation(w: WaitContext): Promise<string> {
  const fields = { secretArn: w.secretArn };
  const mismatch = await currentMismatch(w);
  if (mismatch === undefined && !w.rotateAnyway) {
    log.info('initial rotation: the secret already holds a URL with the configured settings, nothing to do', fields);
    return `The secret ${w.secretArn} already holds a URL; nothing to do`;
  }
  if (mismatch !== 'no token yet (empty url)') {
    // A stack update changed what shapes the URL (or the signer): rotate now, before any bound service updates.
    log.info('initial rotation: the configuration changed, rotating with the new settings', { ...fields, differs: mismatch ?? 'signer' });
  }

  let metadata = await w.sm.send(new DescribeSecretCommand({ SecretId: w.secretArn }));
  // Replaced when a rotation completes without the settings: only a later version will do.
  let placeholderVersion = rotationStateOf(metadata).current;
  const running = rotationStateOf(metadata).pending;
  let attempt: Attempt;
  if (running !== undefined) {
    log.info('initial rotation: a rotation is already in progress, waiting for it', { ...fields, versionId: running });
    // Its age is unknown: counted from now, so a rotation that is still healthy is not cleared early.
    attempt = { number: 1, versionId: running, startedAt: w.now(), seenPending: true };
  } else {
    await waitForCluster({ ...w, ...w.cluster });
    attempt = await startRotation(w, 1);
  }

  for (;;) {
    const left = w.deadline - w.now();
    if (left <= 0) break;
    await w.sleep(Math.min(w.pollIntervalMs, left));
    metadata = await w.sm.send(new DescribeSecretCommand({ SecretId: w.secretArn }));
    const state = rotationStateOf(metadata);
    // The placeholder is AWSCURRENT until finishSecret moves the label; a new holder is the rotated version.
    const differs = state.current !== placeholderVersion ? await currentMismatch(w) : 'version';
    if (differs === undefined) {
      log.info('initial rotation: the first rotation completed', {
        ...fields,
        versionId: state.current,
        attempts: attempt.number,
        seconds: Math.round((w.now() - w.startedAt) / 1000),
      });
      const after = attempt.number > 1 ? ` (rotation ${attempt.number} of at most ${w.maxAttempts})` : '';
      return `The first rotation of ${w.secretArn} completed: version ${state.current} is AWSCURRENT${after}`;
    }
    if (differs !== 'version' && state.pending === undefined) {
      // It started before the rotation function had the new configuration (the watchdog's, a schedule's): once more.
      log.warn('initial rotation: a rotation completed without the configured settings; rotating again', {
        ...fields,
        versionId: state.current,
        differs,
        attempt: attempt.number,
        maxAttempts: w.maxAttempts,
      });
      placeholderVersion = state.current;
      if (attempt.number < w.maxAttempts) attempt = await startRotation(w, attempt.number + 1);
      continue;
    }
    if (attempt.versionId === undefined && state.pending !== undefined) attempt = { ...attempt, versionId: state.pending };
    if (attempt.versionId !== undefined && state.pending === attempt.versionId) attempt = { ...attempt, seenPending: true };
    if (w.pendingCheck !== undefined && state.pending !== undefined) await w.pendingCheck(state.pending);
    const failure = attemptFailure(attempt, state, w.now(), w.redriveAfterMs);
    if (failure === undefined || attempt.number >= w.maxAttempts) continue;
    if (failure === 'stalled' && attempt.versionId !== undefined) {
      // Until the label is gone every RotateSecret is refused ("previous rotation isn't complete").
      await w.sm.send(
        new UpdateSecretVersionStageCommand({ SecretId: w.secretArn, VersionStage: 'AWSPENDING', RemoveFromVersionId: attempt.versionId }),
      );
    }
    log.warn('initial rotation: the rotation failed; starting it again', {
      ...fields,
      versionId: attempt.versionId,
      failure,
      attempt: attempt.number,
      maxAttempts: w.maxAttempts,
      redriveAfterSeconds: w.redriveAfterMs / 1000,
    });
    attempt = await startRotation(w, attempt.number + 1);
  }
  throw new Error(timeoutMessage(w, attempt, Math.round((w.now() - w.startedAt) / 1000)));
}

/** RotateSecret; a rotation found in progress (a race with the watchdog or a schedule) is joined instead. */
async function startRotation(w: WaitContext, number: number): Promise<Attempt> {
  const fields = { secretArn: w.secretArn, attempt: number };
  const startedAt = w.now();
  try {
    const out = await w.sm.send(new RotateSecretCommand({ SecretId: w.secretArn }));
    log.info('initial rotation: started the first rotation', { ...fields, versionId: out.VersionId });
    return { number, versionId: out.VersionId, startedAt };
  } catch (err) {
    if (!isRotationInProgressError(err)) {
      const e = err as { name?: string; message?: string };
      throw new Error(`Could not start the first rotation of secret ${w.secretArn}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`);
    }
    log.info('initial rotation: RotateSecret answered that a rotation is in progress, waiting for it', fields);
    return { number, startedAt };
  }
}

function timeoutMessage(w: WaitContext, attempt: Attempt, seconds: number): string {
  const redriven =
    attempt.number > 1
      ? `${attempt.number} rotations were started, each cleared and started again after ${w.redriveAfterMs / 1000} s without completing. `
      : '';
  return (
    `The first rotation of secret ${w.secretArn} did not complete within ${seconds} s. ${redriven}` +
    `The rotation function logs the step that failed and why in its CloudWatch log group ${w.rotationLogGroup}. Usual causes: ` +
    'the signing identity lacks dsql:DbConnectAdmin (admin) or dsql:DbConnect (custom role) on the cluster; ' +
    'the rotation function has no network path to the cluster endpoint (VPC routing, NAT or the DSQL VPC endpoint, security groups); ' +
    "a custom database role was not granted to the signer: AWS IAM GRANT <role> TO '<signer IAM ARN>'."
  );
}

/** Why AWSCURRENT does not do (a field name, never a value), or undefined when it holds a URL that carries w.settings. */
async function currentMismatch(w: WaitContext): Promise<string | undefined> {
  if (w.settings === undefined) return (await currentHasUrl(w.sm, w.secretArn)) ? undefined : 'no token yet (empty url)';
  return settingsMismatch((await readCurrentValue(w.sm, w.secretArn))?.value, w.settings);
}

/** Whether AWSCURRENT has a non-empty url (the placeholder's is empty). */
export async function currentHasUrl(sm: SecretsManagerClient, secretArn: string): Promise<boolean> {
  const url = (await readCurrentValue(sm, secretArn))?.value.url;
  return typeof url === 'string' && url !== '';
}
