/**
 * Whether a rotation must be deferred. Pure, so the simulation test runs the
 * same rule as createSecret.
 *
 * Old tasks may hold the previous token until previousTokenInUseSeconds after
 * the last promotion (lib/timing.ts: the rollout, and the watchdog's heal of a
 * stuck one). A rotation that starts within that window (typically a
 * scheduled one right after a watchdog rescue) would start a new ECS rollout
 * that supersedes the one still replacing the tasks of the older token: those
 * tasks keep it longer (role signer), or, with access keys, its key could not
 * be deleted. Such a rotation stores AWSCURRENT's value again (a no-op) and
 * the watchdog rotates once the window has passed.
 *
 * Never deferred: a rotation whose current token does not authenticate or
 * would not outlive the deferred rotation and its own rollout and heal (a
 * rescue must run at once), or whose current value is not the configured
 * endpoint, role, database and URL parameters.
 */
import { previousTokenInUseSeconds, SAFETY_MARGIN_SECONDS } from '../lib/timing';

export interface DeferralObservation {
  readonly now: Date;
  /** When AWSCURRENT's token was promoted; undefined when unknown (no or foreign promotion tag). */
  readonly promotedAt: Date | undefined;
  /** 0: never defer. */
  readonly rolloutAllowanceSeconds: number;
  /** How late the watchdog may start the deferred rotation (and notice a stuck rollout). */
  readonly watchdogIntervalSeconds: number;
  /** AWSCURRENT's expiresAt; undefined when it holds no token (the placeholder). */
  readonly currentExpiresAt: Date | undefined;
  /** AWSCURRENT's URL is exactly what the configuration makes: host, port, role, database and query (core/url-settings.ts). */
  readonly currentMatchesConfig: boolean;
}

export type DeferralDecision =
  { readonly defer: false; readonly reason: string } | { readonly defer: true; readonly until: Date; readonly reason: string };

/** When a rotation after a promotion at `promotedAt` stops being deferred. */
export function deferralEndsAt(
  promotedAt: Date,
  t: Pick<DeferralObservation, 'rolloutAllowanceSeconds' | 'watchdogIntervalSeconds'>,
): Date {
  return new Date(promotedAt.getTime() + previousTokenInUseSeconds(t) * 1000);
}

/**
 * The rule without the connection check: when it says defer, the caller
 * still connects with AWSCURRENT's URL and rotates for real if that fails.
 */
export function decideDeferral(o: DeferralObservation): DeferralDecision {
  if (o.rolloutAllowanceSeconds <= 0) return { defer: false, reason: 'rolloutAllowance is 0: rotations are never deferred' };
  if (o.promotedAt === undefined) return { defer: false, reason: 'no recorded promotion of the current version' };
  const until = deferralEndsAt(o.promotedAt, o);
  if (o.now.getTime() >= until.getTime()) {
    return { defer: false, reason: `the rollout and heal window since the last promotion passed at ${until.toISOString()}` };
  }
  if (o.currentExpiresAt === undefined) return { defer: false, reason: 'the current value holds no token' };
  if (!o.currentMatchesConfig)
    return { defer: false, reason: 'the current URL is not for the configured endpoint, role, database and URL parameters' };
  // The watchdog runs the deferred rotation up to one interval after `until`, it takes up to the safety margin, and the
  // current token (AWSPREVIOUS then) must outlive that promotion by the same window: its rollout and heal.
  const needed = until.getTime() + (o.watchdogIntervalSeconds + SAFETY_MARGIN_SECONDS + previousTokenInUseSeconds(o)) * 1000;
  if (o.currentExpiresAt.getTime() <= needed) {
    return {
      defer: false,
      reason: `the current token expires at ${o.currentExpiresAt.toISOString()}, too soon to wait until ${until.toISOString()}`,
    };
  }
  return {
    defer: true,
    until,
    reason:
      `the last promotion was at ${o.promotedAt.toISOString()}: until ${until.toISOString()} (2 x rolloutAllowance ` +
      `(${o.rolloutAllowanceSeconds} s) + watchdogInterval (${o.watchdogIntervalSeconds} s) after it) a new rollout would supersede ` +
      'the one, or the heal, still replacing tasks',
  };
}
