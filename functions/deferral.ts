/**
 * Whether a rotation must be deferred. Pure, so the simulation test runs the
 * same rule as createSecret.
 *
 * A rotation that starts less than rolloutAllowance after the last promotion
 * (typically a scheduled one right after a watchdog rescue) would start a new
 * ECS rollout that supersedes the one still replacing the tasks of the older
 * token: those tasks keep it longer (role signer), or, with access keys, its
 * key would be deleted under them. Such a rotation stores AWSCURRENT's value
 * again (a no-op) and the watchdog rotates once rolloutAllowance has passed.
 *
 * Never deferred: a rotation whose current token does not authenticate or
 * would not outlive the deferred rotation's own rollout (a rescue must run at
 * once), or whose current value is not the configured endpoint, role, database and URL parameters.
 */
import { SAFETY_MARGIN_SECONDS } from '../lib/timing';

export interface DeferralObservation {
  readonly now: Date;
  /** When AWSCURRENT's token was promoted; undefined when unknown (no or foreign promotion tag). */
  readonly promotedAt: Date | undefined;
  /** 0: never defer. */
  readonly rolloutAllowanceSeconds: number;
  /** AWSCURRENT's expiresAt; undefined when it holds no token (the placeholder). */
  readonly currentExpiresAt: Date | undefined;
  /** AWSCURRENT's URL is exactly what the configuration makes: host, port, role, database and query (core/url-settings.ts). */
  readonly currentMatchesConfig: boolean;
}

export type DeferralDecision =
  { readonly defer: false; readonly reason: string } | { readonly defer: true; readonly until: Date; readonly reason: string };

/**
 * The rule without the connection check: when it says defer, the caller
 * still connects with AWSCURRENT's URL and rotates for real if that fails.
 */
export function decideDeferral(o: DeferralObservation): DeferralDecision {
  if (o.rolloutAllowanceSeconds <= 0) return { defer: false, reason: 'rolloutAllowance is 0: rotations are never deferred' };
  if (o.promotedAt === undefined) return { defer: false, reason: 'no recorded promotion of the current version' };
  const until = new Date(o.promotedAt.getTime() + o.rolloutAllowanceSeconds * 1000);
  if (o.now.getTime() >= until.getTime())
    return { defer: false, reason: `rolloutAllowance since the last promotion passed at ${until.toISOString()}` };
  if (o.currentExpiresAt === undefined) return { defer: false, reason: 'the current value holds no token' };
  if (!o.currentMatchesConfig)
    return { defer: false, reason: 'the current URL is not for the configured endpoint, role, database and URL parameters' };
  // The deferred rotation runs at `until` (plus one watchdog interval) and its rollout takes up to rolloutAllowance.
  const needed = until.getTime() + (o.rolloutAllowanceSeconds + SAFETY_MARGIN_SECONDS) * 1000;
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
      `the last promotion was at ${o.promotedAt.toISOString()}, less than rolloutAllowance (${o.rolloutAllowanceSeconds} s) ago: ` +
      'a new rollout now would supersede the one still replacing tasks',
  };
}
