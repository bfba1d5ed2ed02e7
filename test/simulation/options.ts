/**
 * What one simulation run models: the configuration, the signer, the failures,
 * the fleet, and which of the handlers' behaviours are switched on.
 */
import { STALE_PENDING_SECONDS } from '../../lib/timing';
import { WEEK } from './clock';
import { TimingConfig } from './config';

export type SignerModel =
  /**
   * Tokens signed by the rotation function's role; the credentials expire this
   * long after signing, drawn uniformly (unknown to the function).
   */
  | { readonly kind: 'role'; readonly credentialLifeSeconds: { readonly min: number; readonly max: number } }
  /**
   * Tokens signed by an IAM user's access key. At each createSecret every key
   * but AWSCURRENT's is deleted and a new key signs the new token, so the key
   * of token k dies at the createSecret of the rotation after next.
   *
   * With `guardSeconds` (previousTokenInUseSeconds in
   * functions/signer-key-reuse.ts), the key of a promoted token is deleted only
   * once AWSCURRENT has been promoted at least that long (keys of tokens never
   * promoted are not held back by it). While a guard holds a key back,
   * `guardAction` 'reuse' (what the code does) signs the new token with
   * AWSCURRENT's key and deletes nothing; 'fail' fails createSecret (what it
   * did before). See also fleetGuard.
   */
  | {
      readonly kind: 'access-key';
      readonly guardSeconds?: number;
      readonly guardAction?: 'fail' | 'reuse';
      /**
       * functions/key-guard.ts: after guardSeconds, a key is also held back
       * while a running task of a service holds a token it signed (standalone
       * tasks are not surveyed).
       */
      readonly fleetGuard?: boolean;
      /** A bound, not implemented: the fleet guard holds keys only this long after AWSCURRENT's promotion. Undefined: always. */
      readonly fleetGuardSeconds?: number;
    };

export interface FailureModel {
  /** Probability that a rotation attempt fails entirely (after Secrets Manager's own retries). */
  readonly rate: number;
  /**
   * When true, the attempt right after a failed one never fails (neither at
   * random nor scripted): failures are single incidents. When false, attempts
   * fail independently.
   */
  readonly isolated: boolean;
  /** 1-based numbers of rotation attempts (not counting the initial one) that fail, whatever `rate` says. */
  readonly scripted: readonly number[];
}

export interface SimOptions {
  readonly config: TimingConfig;
  readonly signer: SignerModel;
  readonly seed: number;
  readonly durationSeconds: number;
  readonly services: number;
  readonly tasksPerService: number;
  readonly failures: FailureModel;
  /** How long one rotation takes (all four steps), drawn uniformly. */
  readonly rotationSeconds: { readonly min: number; readonly max: number };
  /** Each service's rollout takes this fraction of rolloutAllowance, drawn per rollout. */
  readonly rolloutFraction: { readonly min: number; readonly max: number };
  /** false disables the watchdog. */
  readonly watchdog: boolean;
  /**
   * How long a failed rotation's AWSPENDING version counts as "a rotation in
   * progress" for the watchdog. While any AWSPENDING is left, scheduled
   * rotations are refused ("previous rotation isn't complete"); the watchdog
   * clears a stale one (see clearStalePendingWhenHealthy).
   */
  readonly stalePendingSeconds: number;
  /**
   * Whether a failed rotation leaves its AWSPENDING version behind (true: what
   * Secrets Manager does, see FACTS.md) or the failure cleans up after itself
   * (false: the next tick or the watchdog simply tries again).
   */
  readonly failureLeavesPending: boolean;
  /**
   * Whether the watchdog clears a stale AWSPENDING on every check (true:
   * functions/watchdog.ts), so scheduled rotations resume, or only
   * when it decides to rotate (false).
   */
  readonly clearStalePendingWhenHealthy: boolean;
  /**
   * What a scheduled rotation due less than previousTokenInUseSeconds (the
   * rollout and heal window, lib/timing.ts) after the last promotion does:
   * 'run' it; 'skip' it (the next tick rotates); 'defer' it exactly until that
   * window ends (an idealised deferral); or 'handler', what functions/ does: any rotation
   * (scheduled or the watchdog's) for which the real decideDeferral says
   * defer and whose current token still authenticates is a no-op that sets
   * the deferral tag, and the watchdog rotates at its first check at or after
   * it (up to one watchdog interval late), with the real decideWatchdogAction.
   */
  readonly scheduledWithinRollout: 'run' | 'skip' | 'defer' | 'handler';
  /**
   * Share of promotion rollouts that never finish: no new task replaces the
   * old ones, which keep running with their token until a later deployment
   * of that service completes. Drawn per service and rollout.
   */
  readonly stuckRolloutShare: number;
  /** The same for the healer's one extra deployment (see healer). */
  readonly stuckHealShare: number;
  /**
   * The watchdog's healer (core/fleet.ts healDue): at its first check at or
   * after AWSCURRENT's promotion + rolloutAllowance, a service still running
   * tasks started before that promotion gets one more forced deployment, once
   * per promotion (none if it already had a deployment since then).
   * Needs the watchdog.
   */
  readonly healer: boolean;
  /**
   * Standalone tasks (RunTask, scheduled tasks): `perDay` start at uniformly
   * random times after the first rotation, each reads AWSCURRENT when it
   * starts, runs `runSeconds` and is never redeployed. Undefined: none.
   */
  readonly standalone: { readonly perDay: number; readonly runSeconds: number } | undefined;
}

export const DEFAULT_SIM: Omit<SimOptions, 'config' | 'signer' | 'seed' | 'failures'> = {
  durationSeconds: 4 * WEEK,
  services: 3,
  tasksPerService: 2,
  rotationSeconds: { min: 10, max: 120 },
  rolloutFraction: { min: 0.3, max: 1 },
  watchdog: true,
  stalePendingSeconds: STALE_PENDING_SECONDS,
  failureLeavesPending: true,
  clearStalePendingWhenHealthy: true,
  scheduledWithinRollout: 'run',
  stuckRolloutShare: 0,
  stuckHealShare: 0,
  healer: true,
  standalone: undefined,
};
