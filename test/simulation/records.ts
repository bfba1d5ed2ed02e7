/**
 * What a simulation run records (tokens, access keys, rotations, ECS tasks,
 * dead-token episodes) and the result it returns.
 */
import { SimOptions } from './options';

export type Trigger = 'initial' | 'scheduled' | 'watchdog';

export interface TokenRecord {
  readonly id: number;
  readonly rotationId: number;
  readonly issuedAt: number;
  /** What the rotation function writes into the secret: issuedAt + tokenLifetime. */
  readonly expiresAt: number;
  /** Role signer: when the signing credentials expire. Infinity for access keys. */
  readonly credentialExpiresAt: number;
  /** Access-key signer: the key that signed it. */
  readonly key: AccessKey | undefined;
  promotedAt?: number;
}

export interface AccessKey {
  readonly id: number;
  readonly createdAt: number;
  deletedAt: number;
  /** The rotation whose createSecret deleted it. */
  deletedBy?: number;
  /** Whether a token it signed was ever promoted (so tasks may hold it). */
  signedPromoted: boolean;
}

export interface RotationRecord {
  readonly id: number;
  readonly attempt: number;
  readonly trigger: Trigger;
  readonly startedAt: number;
  /** Seconds from the last promotion (of any rotation) to this start; Infinity before the first. */
  readonly sinceLastPromotion: number;
  endedAt?: number;
  outcome?: 'succeeded' | 'failed';
  failReason?: string;
  tokenId?: number;
  /** Access-key signer: createSecret kept every key and signed with AWSCURRENT's, because of the time window or the fleet survey. */
  keptKeys?: 'window' | 'fleet';
}

export interface TaskRecord {
  readonly id: number;
  /** A service task (redeployed by rollouts) or a standalone one (RunTask: runs its fixed time, never redeployed). */
  readonly kind: 'service' | 'standalone';
  /** -1 for a standalone task. */
  readonly service: number;
  /** -1 for a standalone task. */
  readonly deployment: number;
  readonly tokenId: number;
  readonly startedAt: number;
  stoppedAt?: number;
  /** The rotation whose rollout stopped it. */
  stoppedBy?: number;
}

export interface DeadEpisode {
  readonly taskId: number;
  readonly tokenId: number;
  readonly from: number;
  readonly to: number;
  /** Rotations started from one rotation length before `from` until `to`. */
  readonly attempts: number;
  readonly failedAttempts: number;
  /** Tokens promoted during the episode that died before it ended (a recovery that itself died). */
  readonly recoveriesThatDied: number;
  /** True when the task was still running, holding the dead token, when the simulation ended. */
  readonly openAtEnd: boolean;
  /** The rotation that deleted the token's access key (when that killed it) and the one whose rollout stopped the task. */
  readonly causedBy: readonly RotationRecord[];
}

export interface SimResult {
  readonly options: SimOptions;
  readonly tokens: readonly TokenRecord[];
  readonly rotations: readonly RotationRecord[];
  readonly tasks: readonly TaskRecord[];
  readonly deployments: readonly DeploymentRecord[];
  readonly episodes: readonly DeadEpisode[];
  /** min over tokens held by tasks of (death − when the last task holding it stopped); Infinity if none is known yet. */
  readonly worstMarginSeconds: number;
  readonly deadTaskSeconds: number;
  readonly maxDeadEpisodeSeconds: number;
  readonly scheduled: {
    readonly ticks: number;
    readonly started: number;
    readonly skippedInProgress: number;
    readonly skippedPending: number;
    /** Skipped or deferred: due within rolloutAllowance of the last promotion (scheduledWithinRollout). */
    readonly heldWithinRollout: number;
  };
  /** 'handler': rotations (scheduled or the watchdog's) that were no-op deferrals. */
  readonly deferrals: { readonly scheduled: number; readonly watchdog: number };
  readonly watchdog: {
    readonly checks: number;
    readonly rotations: number;
    readonly waits: number;
    /** Rotations the watchdog started while another rotation was running: must stay 0. */
    readonly rotationsWhileInProgress: number;
    readonly staleCleared: number;
  };
  readonly failed: number;
  readonly maxConsecutiveFailures: number;
  readonly rollouts: RolloutCounters;
}

/** One forced deployment of a service: a promotion's rollout or the healer's one retry for that promotion. */
export interface DeploymentRecord {
  readonly service: number;
  /** The rotation whose promotion it rolls out (or heals). */
  readonly rotationId: number;
  readonly kind: 'promotion' | 'heal';
  readonly at: number;
  /** It never finishes: no new task replaces the old ones. */
  readonly stuck: boolean;
}

/** Service deployments: for promotions and by the healer, and how many of each never finished. */
export interface RolloutCounters {
  readonly promotion: number;
  readonly promotionStuck: number;
  readonly heal: number;
  readonly healStuck: number;
}

/** When a token stops authenticating: its own expiry, its credentials' expiry or its key's deletion. */
export function deathOf(t: TokenRecord): number {
  return Math.min(t.expiresAt, t.credentialExpiresAt, t.key?.deletedAt ?? Infinity);
}
