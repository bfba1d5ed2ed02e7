/**
 * What the watchdog does with what it saw. Pure, so the simulation test runs
 * the same decision over weeks of fake time.
 */
export interface WatchdogObservation {
  readonly now: Date;
  /** AWSCURRENT's expiresAt; undefined when the secret holds no token yet. */
  readonly expiresAt: Date | undefined;
  /** Whether a connection with AWSCURRENT's URL authenticated. */
  readonly connected: boolean;
  /** A pending version that is not older than the stale limit: a rotation is running. */
  readonly rotationInProgress: boolean;
  readonly rotateBeforeExpirySeconds: number;
  /**
   * The secret's deferral tag (DEFERRED_TAG_KEY): a rotation was deferred
   * until then; undefined when none is pending.
   */
  readonly deferredUntil?: Date;
}

export type WatchdogAction =
  | { readonly action: 'none'; readonly reason: string }
  | { readonly action: 'wait'; readonly reason: string }
  | { readonly action: 'rotate'; readonly reason: string };

export function decideWatchdogAction(o: WatchdogObservation): WatchdogAction {
  const secondsLeft = o.expiresAt === undefined ? -Infinity : (o.expiresAt.getTime() - o.now.getTime()) / 1000;
  let reason: string | undefined;
  if (!o.connected) reason = 'the current URL does not authenticate';
  else if (secondsLeft < o.rotateBeforeExpirySeconds) {
    reason = `the current token expires in ${Math.round(secondsLeft)} s, less than the ${o.rotateBeforeExpirySeconds} s a rotation and rollout need`;
  } else if (o.deferredUntil !== undefined && o.now.getTime() >= o.deferredUntil.getTime()) {
    reason = `a scheduled rotation was deferred until ${o.deferredUntil.toISOString()}`;
  }
  if (reason === undefined) {
    const deferred = o.deferredUntil === undefined ? '' : `; a deferred rotation is due at ${o.deferredUntil.toISOString()}`;
    return { action: 'none', reason: `healthy, ${Math.round(secondsLeft)} s left${deferred}` };
  }
  if (o.rotationInProgress) return { action: 'wait', reason: `${reason}; a rotation is already in progress` };
  return { action: 'rotate', reason };
}
