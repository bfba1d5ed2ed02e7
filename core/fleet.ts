/**
 * Which token each running task holds, from the promotion history. Pure: the
 * watchdog, the CLI and the simulation share these rules.
 *
 * A task reads AWSCURRENT when it starts, so it holds the token of the last
 * real promotion at or before its creation (ECS's `createdAt`, the earliest
 * time it could have read the secret: a task counted one token too old is
 * healed once more, one counted too new could die unseen).
 */
import { isDeferredCopy, promotionTimeOf, RotationState } from './rotation-state';
import { startedAfterPromotion } from './ecs-services';
import { PromotionRecord } from '../lib/secret-tags';

/** `current`: AWSCURRENT's token; `previous`: the one before; `older`: anything before, or unknown. */
export type TokenAge = 'current' | 'previous' | 'older';

export interface HeldToken {
  readonly age: TokenAge;
  /** The version whose token the task holds; undefined when it started before every recorded promotion. */
  readonly versionId?: string;
  /** That token's expiresAt; undefined when unknown (counted as expired). */
  readonly expiresAt?: Date;
}

const AGES: readonly TokenAge[] = ['current', 'previous'];

/** The token a task created at `createdAt` holds; `history` newest first (fleetHistoryOf). */
export function tokenHeldBy(createdAt: Date | undefined, history: readonly PromotionRecord[]): HeldToken {
  if (createdAt === undefined) return { age: 'older' };
  const index = history.findIndex((r) => startedAfterPromotion(createdAt, r.promotedAt));
  if (index < 0) return { age: 'older' };
  const record = history[index];
  return { age: AGES[index] ?? 'older', versionId: record.versionId, expiresAt: record.expiresAt };
}

/** What the watchdog knows of AWSCURRENT's value. */
export interface CurrentToken {
  readonly issuedAt: Date;
  readonly expiresAt: Date;
}

/**
 * The promotion history to classify tasks with, newest first. The recorded
 * history (the secret's promotions tag) is used as is when its newest record
 * is AWSCURRENT's token: AWSCURRENT itself, or the version a deferred copy in
 * AWSCURRENT repeats. Otherwise (a secret rotated before the history existed,
 * or promoted by something else) AWSCURRENT is put in front, promoted at the
 * promoted tag's time when that names it, else at its issuedAt (within a
 * rotation's duration before the real promotion). No current token: empty.
 */
export function fleetHistoryOf(
  recorded: readonly PromotionRecord[],
  state: RotationState,
  current: CurrentToken | undefined,
): PromotionRecord[] {
  if (current === undefined || state.current === undefined) return [...recorded];
  const tokenVersion = isDeferredCopy(state, state.current) && state.previous !== undefined ? state.previous : state.current;
  if (recorded[0]?.versionId === tokenVersion) return [...recorded];
  const promotedAt = promotionTimeOf(state, tokenVersion) ?? current.issuedAt;
  return [{ versionId: tokenVersion, promotedAt, expiresAt: current.expiresAt }, ...recorded.filter((r) => r.versionId !== tokenVersion)];
}

/**
 * Whether a service may still run tasks created before `promotedAt`: some
 * deployment or task set of it was created before then (or at an unknown
 * time). A service whose every deployment is newer needs no task listing.
 */
export function mayRunOlderTasks(createdAts: ReadonlyArray<Date | undefined>, promotedAt: Date): boolean {
  return createdAts.some((at) => !startedAfterPromotion(at, promotedAt));
}

export interface HealObservation {
  readonly now: Date;
  /** When AWSCURRENT's token was promoted (the newest history record). */
  readonly promotedAt: Date;
  readonly rolloutAllowanceSeconds: number;
  /** Running tasks created before that promotion. */
  readonly staleTasks: number;
}

/**
 * The time from which a service's old tasks count as stuck: its rollout had
 * rolloutAllowance. A deployment started at or after it is a heal (ours, or
 * the team's own): redeployServices with this as the promotion time skips a
 * service that already has one, so each promotion heals a service once.
 */
export function healAfter(promotedAt: Date, rolloutAllowanceSeconds: number): Date {
  return new Date(promotedAt.getTime() + rolloutAllowanceSeconds * 1000);
}

/** Whether a service's old tasks outlived its rollout: it gets one more forced deployment (if it has none since healAfter). */
export function healDue(o: HealObservation): boolean {
  return o.staleTasks > 0 && o.now.getTime() >= healAfter(o.promotedAt, o.rolloutAllowanceSeconds).getTime();
}
