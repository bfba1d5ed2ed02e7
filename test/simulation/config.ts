/**
 * The construct's timing props as the simulation takes them, and their time
 * budget. Nothing here restates the budget: it is lib/validation.ts's
 * timingBudget (so the schedule window follows the real needsScheduler), and
 * the limits are the real minimumTokenLifetimeSeconds and
 * minimumRotationIntervalSeconds.
 */
import { Duration } from 'aws-cdk-lib';
import { minimumRotationIntervalSeconds, minimumTokenLifetimeSeconds, TimingBudget } from '../../lib/timing';
import { MAX_TOKEN_LIFETIME, timingBudget, TimingSettings } from '../../lib/validation';

/** The construct's timing props, in seconds. */
export interface TimingConfig {
  readonly name: string;
  readonly rotationIntervalSeconds: number;
  readonly tokenLifetimeSeconds: number;
  readonly rolloutAllowanceSeconds: number;
  readonly watchdogIntervalSeconds: number;
}

/** The construct's props as Durations, for lib/validation.ts. */
export function settingsOf(c: TimingConfig): TimingSettings {
  return {
    rotationInterval: Duration.seconds(c.rotationIntervalSeconds),
    tokenLifetime: Duration.seconds(c.tokenLifetimeSeconds),
    rolloutAllowance: Duration.seconds(c.rolloutAllowanceSeconds),
    watchdogInterval: Duration.seconds(c.watchdogIntervalSeconds),
  };
}

/** The construct's own budget for these props (lib/validation.ts), schedule window included. */
export function budgetOf(c: TimingConfig): TimingBudget {
  return timingBudget(settingsOf(c));
}

/** Why a configuration breaks the time budget of lib/timing.ts; empty when it is valid. */
export function budgetViolations(c: TimingConfig): string[] {
  const b = budgetOf(c);
  const problems: string[] = [];
  if (c.tokenLifetimeSeconds < minimumTokenLifetimeSeconds(b)) problems.push(`lifetime < ${minimumTokenLifetimeSeconds(b)} s`);
  if (c.rotationIntervalSeconds < minimumRotationIntervalSeconds(b)) problems.push(`interval < ${minimumRotationIntervalSeconds(b)} s`);
  if (c.tokenLifetimeSeconds > MAX_TOKEN_LIFETIME.toSeconds()) problems.push(`lifetime > ${MAX_TOKEN_LIFETIME.toHumanString()}`);
  return problems;
}

/** The same props with the shortest token lifetime the budget allows. */
export function withTightestLifetime(c: TimingConfig): TimingConfig {
  return { ...c, name: `${c.name}, tightest lifetime`, tokenLifetimeSeconds: minimumTokenLifetimeSeconds(budgetOf(c)) };
}

/** Detect (one watchdog interval), rotate (the longest rotation), replace (the rollout allowance). */
export function detectionWindowSeconds(c: TimingConfig, maxRotationSeconds: number): number {
  return c.watchdogIntervalSeconds + maxRotationSeconds + c.rolloutAllowanceSeconds;
}
