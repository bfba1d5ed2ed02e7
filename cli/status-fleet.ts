/** The fleet survey (core/fleet-survey.ts) as `status` reports it: per service and over every bound service. */
import { ServiceFleet } from '../core/fleet-survey';
import { ServiceFleetStatus } from './render';

/** One service's survey result as `status` reports it; null when it was not surveyed. */
export function serviceFleetStatus(f: ServiceFleet | undefined, now: number): ServiceFleetStatus | null {
  if (f === undefined) return null;
  const oldest = expiry(f.state === 'failed' ? undefined : f.oldestExpiresAt, now);
  return { state: f.state, tasks: { ...f.tasks }, ...oldest, error: f.error ?? null };
}

/** A survey's expiry (undefined: none; null: unknown, counted as expired) as the report shows it. */
export function expiry(at: Date | null | undefined, now: number): Pick<ServiceFleetStatus, 'oldestExpiresAt' | 'oldestState'> {
  if (at === undefined) return { oldestExpiresAt: null, oldestState: null };
  if (at === null) return { oldestExpiresAt: null, oldestState: 'unknown' };
  return { oldestExpiresAt: at.toISOString(), oldestState: at.getTime() > now ? 'valid' : 'expired' };
}
