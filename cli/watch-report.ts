/**
 * What `rotate --wait` reports while it follows a rotation: the snapshots the
 * rollout watch produces, the outcome it ends with, and the Reporter a display
 * implements (cli/render.ts). Types only, so the watch and the displays do not
 * depend on each other.
 */
import { ExitCodeValue } from './errors';

export type VersionState = 'starting' | 'AWSPENDING' | 'AWSCURRENT' | 'abandoned';
export type ServiceState = 'waiting' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | 'gone' | 'invalid';

export interface ServiceProgress {
  readonly arn: string;
  /** `cluster/service`. */
  readonly label: string;
  readonly state: ServiceState;
  readonly deploymentId?: string;
  readonly running?: number;
  readonly desired?: number;
  /** ECS reported no rolloutState: the state was derived from the task counts. */
  readonly derived?: boolean;
  readonly reason?: string;
}

/** Everything the display shows, at one moment. */
export interface WatchSnapshot {
  readonly secretName: string;
  readonly versionId: string;
  readonly previousVersion?: string;
  readonly versionState: VersionState;
  readonly expiresAt?: Date;
  /** Why the expiry is not shown, when it cannot be read. */
  readonly expiryNote?: string;
  readonly services: readonly ServiceProgress[];
  /** e.g. "no bound services (parameter … does not exist yet)". */
  readonly servicesNote?: string;
  /** The last poll failed with a transient error (throttling, network): shown, and polled again. */
  readonly warning?: string;
  readonly elapsedMs: number;
  readonly timeoutMs: number;
}

export interface Outcome {
  readonly code: ExitCodeValue;
  readonly message: string;
}

/** What a display implements: a live table on a terminal, timestamped lines elsewhere. */
export interface Reporter {
  /** A line of its own (not part of the progress display). */
  info(line: string): void;
  update(snapshot: WatchSnapshot): void;
  finish(outcome: Outcome, last: WatchSnapshot | undefined): void;
}
