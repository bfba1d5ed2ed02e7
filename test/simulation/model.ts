/**
 * A discrete-event simulation of token lifetimes: scheduled and watchdog
 * rotations, failed rotations, ECS rollouts, and the death of tokens when
 * their signing credentials expire (role signer) or their access key is
 * deleted (access-key signer).
 *
 * Time is a number of simulated seconds since SIM_EPOCH_MS (a UTC midnight),
 * advanced by an event queue: nothing sleeps and no timer runs. Every random
 * draw comes from one seeded PRNG, so a (scenario, seed) pair always replays
 * the same history.
 *
 * Nothing here restates the time budget: the budget of a configuration is
 * lib/validation.ts's timingBudget (so the schedule window follows the real
 * needsScheduler), the watchdog decides with the real decideWatchdogAction,
 * rotateBeforeExpirySeconds and STALE_PENDING_SECONDS, and configurations are
 * derived from the real minimumTokenLifetimeSeconds and
 * minimumRotationIntervalSeconds.
 */
import { Duration } from 'aws-cdk-lib';
import {
  minimumRotationIntervalSeconds, minimumTokenLifetimeSeconds, rotateBeforeExpirySeconds, STALE_PENDING_SECONDS, TimingBudget,
} from '../../lib/timing';
import { MAX_TOKEN_LIFETIME, timingBudget, TimingSettings } from '../../lib/validation';
import { decideDeferral } from '../../functions/deferral';
import { decideWatchdogAction } from '../../functions/watchdog-decision';

export const MINUTE = 60;
export const HOUR = 3600;
export const DAY = 86400;
export const WEEK = 7 * DAY;
/** Simulated time 0: Monday 2025-01-06 00:00 UTC (Secrets Manager's rotation windows start at UTC midnight). */
export const SIM_EPOCH_MS = Date.UTC(2025, 0, 6);

// ---------------------------------------------------------------------------
// PRNG and event queue

/** mulberry32: a tiny 32-bit PRNG, good enough for simulation and fully reproducible. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface QueuedEvent {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

/** A binary min-heap of events keyed by (time, insertion order). */
export class EventQueue {
  private readonly heap: QueuedEvent[] = [];
  private seq = 0;
  public now = 0;

  public schedule(at: number, run: () => void): void {
    if (at < this.now) throw new Error(`cannot schedule an event in the past (${at} < ${this.now})`);
    this.heap.push({ at, seq: this.seq++, run });
    let i = this.heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(this.heap[i], this.heap[parent])) break;
      [this.heap[i], this.heap[parent]] = [this.heap[parent], this.heap[i]];
      i = parent;
    }
  }

  /** Runs events in time order until the queue is empty or the next event is after `until`. */
  public runUntil(until: number): void {
    while (this.heap.length > 0 && this.heap[0].at <= until) {
      const next = this.pop();
      this.now = next.at;
      next.run();
    }
    this.now = until;
  }

  private pop(): QueuedEvent {
    const top = this.heap[0];
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.heap.length && this.less(this.heap[l], this.heap[m])) m = l;
        if (r < this.heap.length && this.less(this.heap[r], this.heap[m])) m = r;
        if (m === i) break;
        [this.heap[i], this.heap[m]] = [this.heap[m], this.heap[i]];
        i = m;
      }
    }
    return top;
  }

  private less(a: QueuedEvent, b: QueuedEvent): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
}

// ---------------------------------------------------------------------------
// Configuration

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

export type SignerModel =
  /** Tokens signed by the rotation function's role; the credentials expire this long after signing (unknown to the function). */
  | { readonly kind: 'role'; readonly credentialLifeSeconds: { readonly min: number; readonly max: number } }
  /**
   * Tokens signed by an IAM user's access key. At each createSecret every key
   * but AWSCURRENT's is deleted and a new key signs the new token, so the key
   * of token k dies at the createSecret of the rotation after next.
   *
   * With `guardSeconds` (signer.rolloutAllowanceSeconds in functions/signer.ts),
   * the key of the previously promoted token is deleted only once AWSCURRENT
   * has been promoted at least that long. Before that, `guardAction` 'fail'
   * fails createSecret (what signer.ts does) and 'reuse' signs the new token
   * with AWSCURRENT's key and deletes nothing (an alternative design).
   * Keys of tokens never promoted always go.
   */
  | { readonly kind: 'access-key'; readonly guardSeconds?: number; readonly guardAction?: 'fail' | 'reuse' };

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
   * What a scheduled rotation due less than rolloutAllowance after the last
   * promotion does: 'run' it; 'skip' it (the next tick rotates); 'defer' it
   * exactly until rolloutAllowance after that promotion (an idealised
   * deferral); or 'handler', what functions/ does: any rotation
   * (scheduled or the watchdog's) for which the real decideDeferral says
   * defer and whose current token still authenticates is a no-op that sets
   * the deferral tag, and the watchdog rotates at its first check at or after
   * it (up to one watchdog interval late), with the real decideWatchdogAction.
   */
  readonly scheduledWithinRollout: 'run' | 'skip' | 'defer' | 'handler';
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
};

// ---------------------------------------------------------------------------
// State and results

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
}

export interface TaskRecord {
  readonly id: number;
  readonly service: number;
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
}

/** When a token stops authenticating: its own expiry, its credentials' expiry or its key's deletion. */
export function deathOf(t: TokenRecord): number {
  return Math.min(t.expiresAt, t.credentialExpiresAt, t.key?.deletedAt ?? Infinity);
}

// ---------------------------------------------------------------------------
// The simulation

interface Service {
  readonly id: number;
  deployment: number;
  readonly running: Set<TaskRecord>;
}

class Simulation {
  private readonly q = new EventQueue();
  private readonly rand: () => number;
  private readonly tokens: TokenRecord[] = [];
  private readonly rotations: RotationRecord[] = [];
  private readonly tasks: TaskRecord[] = [];
  private readonly services: Service[] = [];
  private readonly rotateBeforeExpiry: number;
  private readonly scheduleWindow: number;

  private current: TokenRecord | undefined;
  private lastPromotionAt = -Infinity;
  private running: RotationRecord | undefined;
  /** A failed rotation's AWSPENDING version, left behind. */
  private leftoverPending: { readonly createdAt: number } | undefined;
  /** The signer user's access keys that are not deleted (IAM allows two). */
  private readonly liveKeys = new Set<AccessKey>();
  private keyCount = 0;
  private attempts = 0;
  private lastAttemptFailed = false;
  private consecutiveFailures = 0;
  private maxConsecutiveFailures = 0;
  private failed = 0;

  private readonly sched = { ticks: 0, started: 0, skippedInProgress: 0, skippedPending: 0, heldWithinRollout: 0 };
  private readonly deferrals = { scheduled: 0, watchdog: 0 };
  /** 'handler': the secret's deferral tag (simulated seconds); cleared by a real promotion. */
  private deferredUntil: number | undefined;
  private readonly wd = { checks: 0, rotations: 0, waits: 0, rotationsWhileInProgress: 0, staleCleared: 0 };

  constructor(private readonly o: SimOptions) {
    this.rand = mulberry32(o.seed);
    const budget = budgetOf(o.config);
    this.rotateBeforeExpiry = rotateBeforeExpirySeconds(budget);
    this.scheduleWindow = budget.scheduleWindowSeconds;
    for (let s = 0; s < o.services; s++) this.services.push({ id: s, deployment: 0, running: new Set() });
  }

  private uniform(min: number, max: number): number {
    return min + (max - min) * this.rand();
  }

  public run(): SimResult {
    const c = this.o.config;
    // Deployment: the initial rotation runs first (it cannot fail here), then the services start with its token.
    this.startRotation('initial');
    // Scheduled rotations: tick k at k × interval. Secrets Manager's own
    // schedule (needsScheduler false) starts the rotation anywhere in the
    // window after the tick (RotationRules.Duration, NATIVE_SCHEDULE_WINDOW_SECONDS);
    // EventBridge Scheduler starts it on the tick (window 0). A watchdog
    // rotation does not move the ticks.
    for (let k = 1; k * c.rotationIntervalSeconds < this.o.durationSeconds; k++) {
      const at = k * c.rotationIntervalSeconds + this.uniform(0, this.scheduleWindow);
      this.q.schedule(at, () => this.scheduledTick());
    }
    if (this.o.watchdog) {
      const first = this.uniform(0, c.watchdogIntervalSeconds);
      for (let at = first; at < this.o.durationSeconds; at += c.watchdogIntervalSeconds) {
        this.q.schedule(at, () => this.watchdogCheck());
      }
    }
    this.q.runUntil(this.o.durationSeconds);
    return this.results();
  }

  // --- rotations -----------------------------------------------------------

  private scheduledTick(deferred = false): void {
    if (!deferred) this.sched.ticks++;
    if (this.running !== undefined) { this.sched.skippedInProgress++; return; }
    if (this.leftoverPending !== undefined) { this.sched.skippedPending++; return; }
    const rolloutEnds = this.lastPromotionAt + this.o.config.rolloutAllowanceSeconds;
    if (this.o.scheduledWithinRollout === 'handler') {
      if (this.deferByHandler('scheduled')) { this.sched.heldWithinRollout++; return; }
    } else if (this.o.scheduledWithinRollout !== 'run' && this.q.now < rolloutEnds) {
      this.sched.heldWithinRollout++;
      if (this.o.scheduledWithinRollout === 'defer') this.q.schedule(rolloutEnds, () => this.scheduledTick(true));
      return;
    }
    this.sched.started++;
    this.startRotation('scheduled');
  }

  private watchdogCheck(): void {
    this.wd.checks++;
    const now = this.q.now;
    // As functions/watchdog.ts: a pending version up to stalePendingSeconds old is a rotation in progress.
    const pendingFresh = this.leftoverPending !== undefined && now - this.leftoverPending.createdAt <= this.o.stalePendingSeconds;
    if (this.leftoverPending !== undefined && !pendingFresh && this.o.clearStalePendingWhenHealthy) {
      this.wd.staleCleared++;
      this.leftoverPending = undefined;
    }
    const decision = decideWatchdogAction({
      now: new Date(SIM_EPOCH_MS + now * 1000),
      expiresAt: this.current === undefined ? undefined : new Date(SIM_EPOCH_MS + this.current.expiresAt * 1000),
      // The watchdog's real connection check: does AWSCURRENT's token authenticate right now?
      connected: this.current !== undefined && deathOf(this.current) > now,
      rotationInProgress: this.running !== undefined || pendingFresh,
      rotateBeforeExpirySeconds: this.rotateBeforeExpiry,
      deferredUntil: this.deferredUntil === undefined ? undefined : new Date(SIM_EPOCH_MS + this.deferredUntil * 1000),
    });
    if (decision.action === 'wait') this.wd.waits++;
    if (decision.action !== 'rotate') return;
    if (this.running !== undefined) {
      // Counted, not thrown, so a test can assert it never happens.
      this.wd.rotationsWhileInProgress++;
      return;
    }
    if (this.leftoverPending !== undefined) {
      this.wd.staleCleared++;
      this.leftoverPending = undefined;
    }
    this.wd.rotations++;
    if (this.o.scheduledWithinRollout === 'handler' && this.deferByHandler('watchdog')) return;
    this.startRotation('watchdog');
  }

  /**
   * functions/steps.ts's createSecret: a rotation the real
   * decideDeferral defers, with a current token that still authenticates, is
   * a no-op (AWSCURRENT's value again, no rollout) that sets the deferral
   * tag. Its few seconds are not modelled (nor its failure: a failed no-op
   * leaves the old token current, as a failed real rotation does).
   */
  private deferByHandler(trigger: 'scheduled' | 'watchdog'): boolean {
    const now = this.q.now;
    const current = this.current;
    if (current === undefined || current.promotedAt === undefined) return false;
    const decision = decideDeferral({
      now: new Date(SIM_EPOCH_MS + now * 1000),
      promotedAt: new Date(SIM_EPOCH_MS + current.promotedAt * 1000),
      rolloutAllowanceSeconds: this.o.config.rolloutAllowanceSeconds,
      currentExpiresAt: new Date(SIM_EPOCH_MS + current.expiresAt * 1000),
      currentMatchesConfig: true,
    });
    // The connection check createSecret makes before deferring.
    if (!decision.defer || deathOf(current) <= now) return false;
    this.deferredUntil = (decision.until.getTime() - SIM_EPOCH_MS) / 1000;
    this.deferrals[trigger]++;
    return true;
  }

  private startRotation(trigger: Trigger): void {
    const now = this.q.now;
    const attempt = trigger === 'initial' ? 0 : ++this.attempts;
    const rotation: RotationRecord = { id: this.rotations.length, attempt, trigger, startedAt: now, sinceLastPromotion: now - this.lastPromotionAt };
    this.rotations.push(rotation);
    this.running = rotation;

    const f = this.o.failures;
    const randomDraw = this.rand();
    const mayFail = attempt > 0 && !(f.isolated && this.lastAttemptFailed);
    const scripted = mayFail && f.scripted.includes(attempt);
    const random = mayFail && randomDraw < f.rate;
    const failStage = scripted || random ? (['createSecret', 'testSecret', 'finishSecret'] as const)[Math.floor(this.rand() * 3)] : undefined;

    const duration = this.uniform(this.o.rotationSeconds.min, this.o.rotationSeconds.max);
    const createAt = now + 0.25 * duration;
    const testAt = now + 0.6 * duration;
    const finishAt = now + duration;

    this.q.schedule(createAt, () => {
      if (failStage === 'createSecret') return this.fail(rotation, scripted ? 'scripted (createSecret)' : 'random (createSecret)');
      const key = this.signingKey(rotation);
      if (typeof key === 'string') return this.fail(rotation, key);
      rotation.tokenId = this.mint(rotation, key).id;
    });
    this.q.schedule(testAt, () => {
      if (rotation.outcome !== undefined) return;
      const token = this.tokens[rotation.tokenId!];
      if (deathOf(token) <= this.q.now) return this.fail(rotation, 'testSecret: the pending token does not authenticate');
      if (failStage === 'testSecret') return this.fail(rotation, scripted ? 'scripted (testSecret)' : 'random (testSecret)');
    });
    this.q.schedule(finishAt, () => {
      if (rotation.outcome !== undefined) return;
      if (failStage === 'finishSecret') return this.fail(rotation, scripted ? 'scripted (finishSecret)' : 'random (finishSecret)');
      this.promote(rotation);
    });
  }

  /**
   * Access-key signer, at createSecret: deletes every key but AWSCURRENT's and
   * creates the key that signs the new token. With the guard, while the key
   * of a promoted token may still be in use, either fails (returns the
   * reason) or keeps it and signs with AWSCURRENT's key.
   */
  private signingKey(rotation: RotationRecord): AccessKey | undefined | string {
    const signer = this.o.signer;
    if (signer.kind !== 'access-key') return undefined;
    const now = this.q.now;
    const currentKey = this.current?.key;
    const others = [...this.liveKeys].filter((k) => k !== currentKey);
    const guarded = signer.guardSeconds !== undefined && currentKey !== undefined && this.current?.promotedAt !== undefined
      && now - this.current.promotedAt < signer.guardSeconds;
    if (guarded && signer.guardAction !== 'reuse' && others.some((k) => k.signedPromoted)) {
      return 'createSecret: rotating again within rolloutAllowance of the last promotion would delete a key in use';
    }
    for (const k of others) {
      if (guarded && k.signedPromoted) continue;
      k.deletedAt = now;
      k.deletedBy = rotation.id;
      this.liveKeys.delete(k);
    }
    if (this.liveKeys.size >= 2) return currentKey;
    const key: AccessKey = { id: this.keyCount++, createdAt: now, deletedAt: Infinity, signedPromoted: false };
    this.liveKeys.add(key);
    return key;
  }

  private mint(rotation: RotationRecord, key: AccessKey | undefined): TokenRecord {
    const now = this.q.now;
    const signer = this.o.signer;
    const token: TokenRecord = {
      id: this.tokens.length,
      rotationId: rotation.id,
      issuedAt: now,
      // The function cannot see when role credentials expire: it writes the requested lifetime.
      expiresAt: now + this.o.config.tokenLifetimeSeconds,
      credentialExpiresAt: signer.kind === 'role'
        ? now + this.uniform(signer.credentialLifeSeconds.min, signer.credentialLifeSeconds.max)
        : Infinity,
      key,
    };
    this.tokens.push(token);
    return token;
  }

  private fail(rotation: RotationRecord, reason: string): void {
    rotation.outcome = 'failed';
    rotation.failReason = reason;
    rotation.endedAt = this.q.now;
    this.running = undefined;
    // RotateSecret labelled the new version AWSPENDING before the first step: a failure leaves it behind.
    this.leftoverPending = this.o.failureLeavesPending ? { createdAt: rotation.startedAt } : undefined;
    this.failed++;
    this.lastAttemptFailed = true;
    this.consecutiveFailures++;
    this.maxConsecutiveFailures = Math.max(this.maxConsecutiveFailures, this.consecutiveFailures);
  }

  private promote(rotation: RotationRecord): void {
    const now = this.q.now;
    const token = this.tokens[rotation.tokenId!];
    token.promotedAt = now;
    if (token.key !== undefined) token.key.signedPromoted = true;
    this.current = token;
    this.lastPromotionAt = now;
    // A real rotation's finishSecret removes the deferral tag.
    this.deferredUntil = undefined;
    rotation.outcome = 'succeeded';
    rotation.endedAt = now;
    this.running = undefined;
    this.leftoverPending = undefined;
    this.lastAttemptFailed = false;
    this.consecutiveFailures = 0;
    if (rotation.trigger === 'initial') {
      // The services are created after the first rotation: their tasks start with its token.
      for (const s of this.services) {
        for (let i = 0; i < this.o.tasksPerService; i++) {
          this.q.schedule(now + this.uniform(0, 60), () => this.startTask(s, 0));
        }
      }
      return;
    }
    for (const s of this.services) this.rollout(s, rotation);
  }

  // --- ECS -----------------------------------------------------------------

  /**
   * UpdateService(forceNewDeployment): new tasks start within the first half
   * of the rollout and read AWSCURRENT then; every task not of this
   * deployment stops when it completes. A newer deployment supersedes it:
   * its pending starts and its completion are dropped.
   */
  private rollout(s: Service, rotation: RotationRecord): void {
    const now = this.q.now;
    const deployment = ++s.deployment;
    const duration = this.o.config.rolloutAllowanceSeconds * this.uniform(this.o.rolloutFraction.min, this.o.rolloutFraction.max);
    for (let i = 0; i < this.o.tasksPerService; i++) {
      this.q.schedule(now + this.uniform(0, duration / 2), () => {
        if (s.deployment === deployment) this.startTask(s, deployment);
      });
    }
    this.q.schedule(now + duration, () => {
      if (s.deployment !== deployment) return;
      for (const t of [...s.running]) {
        if (t.deployment !== deployment) {
          t.stoppedAt = this.q.now;
          t.stoppedBy = rotation.id;
          s.running.delete(t);
        }
      }
    });
  }

  private startTask(s: Service, deployment: number): void {
    const task: TaskRecord = { id: this.tasks.length, service: s.id, deployment, tokenId: this.current!.id, startedAt: this.q.now };
    this.tasks.push(task);
    s.running.add(task);
  }

  // --- measurement ---------------------------------------------------------

  /** The rotation that deleted the key of a task's dead token (if that killed it), and the one whose rollout stopped the task. */
  private causesOf(t: TaskRecord): RotationRecord[] {
    const token = this.tokens[t.tokenId];
    const causes: RotationRecord[] = [];
    if (token.key?.deletedBy !== undefined && token.key.deletedAt === deathOf(token)) causes.push(this.rotations[token.key.deletedBy]);
    if (t.stoppedBy !== undefined && !causes.includes(this.rotations[t.stoppedBy])) causes.push(this.rotations[t.stoppedBy]);
    return causes;
  }

  private results(): SimResult {
    const end = this.o.durationSeconds;
    const lastStop = new Map<number, number>();
    for (const t of this.tasks) lastStop.set(t.tokenId, Math.max(lastStop.get(t.tokenId) ?? -Infinity, t.stoppedAt ?? Infinity));
    let worstMargin = Infinity;
    for (const [tokenId, stop] of lastStop) {
      const death = deathOf(this.tokens[tokenId]);
      if (stop !== Infinity) worstMargin = Math.min(worstMargin, death - stop);
      else if (death < end) worstMargin = Math.min(worstMargin, death - end);
    }

    const maxRotation = this.o.rotationSeconds.max;
    const episodes: DeadEpisode[] = [];
    // Rotations are recorded in start order: find the first one after a time by bisection.
    const firstStartedAfter = (time: number) => {
      let lo = 0;
      let hi = this.rotations.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.rotations[mid].startedAt > time) hi = mid; else lo = mid + 1;
      }
      return lo;
    };
    for (const t of this.tasks) {
      const from = Math.max(t.startedAt, deathOf(this.tokens[t.tokenId]));
      const to = Math.min(t.stoppedAt ?? end, end);
      if (to <= from) continue;
      const during = this.rotations.slice(firstStartedAfter(from - maxRotation), firstStartedAfter(to));
      episodes.push({
        taskId: t.id,
        tokenId: t.tokenId,
        from,
        to,
        attempts: during.length,
        failedAttempts: during.filter((r) => r.outcome === 'failed').length,
        recoveriesThatDied: during.filter((r) => r.outcome === 'succeeded' && r.endedAt! > from
          && deathOf(this.tokens[r.tokenId!]) < to).length,
        openAtEnd: t.stoppedAt === undefined,
        causedBy: this.causesOf(t),
      });
    }
    const lengths = episodes.map((e) => e.to - e.from);
    return {
      options: this.o,
      tokens: this.tokens,
      rotations: this.rotations,
      tasks: this.tasks,
      episodes,
      worstMarginSeconds: worstMargin,
      deadTaskSeconds: lengths.reduce((a, b) => a + b, 0),
      maxDeadEpisodeSeconds: lengths.reduce((a, b) => Math.max(a, b), 0),
      scheduled: { ...this.sched },
      deferrals: { ...this.deferrals },
      watchdog: { ...this.wd },
      failed: this.failed,
      maxConsecutiveFailures: this.maxConsecutiveFailures,
    };
  }
}

export function simulate(options: SimOptions): SimResult {
  return new Simulation(options).run();
}

// ---------------------------------------------------------------------------
// Reporting

export interface ScenarioSummary {
  readonly scenario: string;
  readonly runs: number;
  readonly worstMarginMin: number;
  readonly deadTaskMin: number;
  readonly maxEpisodeMin: number;
  readonly scheduled: number;
  readonly watchdog: number;
  readonly failed: number;
  readonly skipped: number;
}

export function summarize(scenario: string, results: readonly SimResult[]): ScenarioSummary {
  const sum = (f: (r: SimResult) => number) => results.reduce((a, r) => a + f(r), 0);
  return {
    scenario,
    runs: results.length,
    worstMarginMin: Math.min(...results.map((r) => r.worstMarginSeconds)) / MINUTE,
    deadTaskMin: sum((r) => r.deadTaskSeconds) / MINUTE,
    maxEpisodeMin: Math.max(...results.map((r) => r.maxDeadEpisodeSeconds)) / MINUTE,
    scheduled: sum((r) => r.scheduled.started),
    watchdog: sum((r) => r.watchdog.rotations),
    failed: sum((r) => r.failed),
    skipped: sum((r) => r.scheduled.skippedInProgress + r.scheduled.skippedPending + r.scheduled.heldWithinRollout),
  };
}

/** A compact fixed-width table, one line per scenario. */
export function formatTable(title: string, rows: readonly ScenarioSummary[]): string {
  const header = ['scenario', 'runs', 'worst margin (min)', 'dead task-min', 'longest dead (min)', 'rotations sched/wd/failed', 'ticks skipped'];
  const body = rows.map((r) => [
    r.scenario,
    String(r.runs),
    Number.isFinite(r.worstMarginMin) ? r.worstMarginMin.toFixed(1) : 'n/a',
    r.deadTaskMin.toFixed(1),
    r.maxEpisodeMin.toFixed(1),
    `${r.scheduled}/${r.watchdog}/${r.failed}`,
    String(r.skipped),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ');
  return [title, line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
}

/**
 * Whether a dead-token episode comes from a rotation that started within
 * rolloutAllowance of the previous promotion: it deleted the access key that
 * rollout was still replacing, or its own rollout superseded that one.
 */
export function causedByFollowUp(e: DeadEpisode, c: TimingConfig): boolean {
  return e.causedBy.some((r) => r.sinceLastPromotion < c.rolloutAllowanceSeconds);
}
