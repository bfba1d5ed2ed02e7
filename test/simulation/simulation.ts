/**
 * A discrete-event simulation of token lifetimes: scheduled and watchdog
 * rotations, failed rotations, ECS rollouts, stuck ones and the watchdog's
 * healer, standalone tasks (./ecs-services.ts), and the
 * death of tokens when their signing credentials expire (role signer) or
 * their access key is deleted (access-key signer, ./access-keys.ts).
 *
 * Time runs on the fake clock of ./clock.ts and every random draw comes from
 * one seeded PRNG (./prng.ts), so a (scenario, seed) pair always replays the
 * same history.
 *
 * Nothing here restates the time budget (see ./config.ts): the watchdog
 * decides with the real decideWatchdogAction and rotateBeforeExpirySeconds,
 * and rotations defer with the real decideDeferral.
 */
import { previousTokenInUseSeconds, rotateBeforeExpirySeconds } from '../../lib/timing';
import { decideDeferral } from '../../functions/deferral';
import { decideWatchdogAction } from '../../functions/watchdog-decision';
import { AccessKeyPool } from './access-keys';
import { EventQueue, SIM_EPOCH_MS } from './clock';
import { budgetOf } from './config';
import { EcsServices } from './ecs-services';
import { measure } from './measurement';
import { SimOptions } from './options';
import { mulberry32 } from './prng';
import { AccessKey, deathOf, RotationRecord, SimResult, TokenRecord, Trigger } from './records';

class Simulation {
  private readonly q = new EventQueue();
  private readonly rand: () => number;
  private readonly tokens: TokenRecord[] = [];
  private readonly rotations: RotationRecord[] = [];
  private readonly ecs: EcsServices;
  private readonly keys = new AccessKeyPool((key) => this.ecs.holdsKey(key, this.tokens));
  private readonly rotateBeforeExpiry: number;
  private readonly scheduleWindow: number;

  private current: TokenRecord | undefined;
  private lastPromotionAt = -Infinity;
  private running: RotationRecord | undefined;
  /** A failed rotation's AWSPENDING version, left behind. */
  private leftoverPending: { readonly createdAt: number } | undefined;
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
    this.ecs = new EcsServices(
      this.q,
      o,
      (min, max) => this.uniform(min, max),
      () => this.current!.id,
    );
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
    if (this.running !== undefined) {
      this.sched.skippedInProgress++;
      return;
    }
    if (this.leftoverPending !== undefined) {
      this.sched.skippedPending++;
      return;
    }
    // Old tasks may hold the previous token this long after a promotion: the rollout, and the heal of a stuck one.
    const rolloutEnds = this.lastPromotionAt + previousTokenInUseSeconds(this.o.config);
    if (this.o.scheduledWithinRollout === 'handler') {
      if (this.deferByHandler('scheduled')) {
        this.sched.heldWithinRollout++;
        return;
      }
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
    // The healer: services whose old tasks outlived AWSCURRENT's rollout.
    if (this.o.healer && this.current?.promotedAt !== undefined)
      this.ecs.heal(this.current.promotedAt, this.rotations[this.current.rotationId]);
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
      watchdogIntervalSeconds: this.o.config.watchdogIntervalSeconds,
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
    const rotation: RotationRecord = {
      id: this.rotations.length,
      attempt,
      trigger,
      startedAt: now,
      sinceLastPromotion: now - this.lastPromotionAt,
    };
    this.rotations.push(rotation);
    this.running = rotation;

    const f = this.o.failures;
    const randomDraw = this.rand();
    const mayFail = attempt > 0 && !(f.isolated && this.lastAttemptFailed);
    const scripted = mayFail && f.scripted.includes(attempt);
    const random = mayFail && randomDraw < f.rate;
    const failStage =
      scripted || random ? (['createSecret', 'testSecret', 'finishSecret'] as const)[Math.floor(this.rand() * 3)] : undefined;

    const duration = this.uniform(this.o.rotationSeconds.min, this.o.rotationSeconds.max);
    const createAt = now + 0.25 * duration;
    const testAt = now + 0.6 * duration;
    const finishAt = now + duration;

    this.q.schedule(createAt, () => {
      if (failStage === 'createSecret') return this.fail(rotation, scripted ? 'scripted (createSecret)' : 'random (createSecret)');
      const key = this.keys.signingKey(this.o.signer, rotation, this.q.now, this.current);
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

  private mint(rotation: RotationRecord, key: AccessKey | undefined): TokenRecord {
    const now = this.q.now;
    const signer = this.o.signer;
    const token: TokenRecord = {
      id: this.tokens.length,
      rotationId: rotation.id,
      issuedAt: now,
      // The function cannot see when role credentials expire: it writes the requested lifetime.
      expiresAt: now + this.o.config.tokenLifetimeSeconds,
      credentialExpiresAt:
        signer.kind === 'role' ? now + this.uniform(signer.credentialLifeSeconds.min, signer.credentialLifeSeconds.max) : Infinity,
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
    // The services are created after the first rotation: their tasks start with its token.
    if (rotation.trigger === 'initial') this.ecs.startAll();
    else this.ecs.rolloutAll(rotation);
  }

  private results(): SimResult {
    const history = {
      options: this.o,
      tokens: this.tokens,
      rotations: this.rotations,
      tasks: this.ecs.tasks,
      deployments: this.ecs.deployments,
    };
    return measure(history, {
      scheduled: this.sched,
      deferrals: this.deferrals,
      watchdog: this.wd,
      failed: this.failed,
      maxConsecutiveFailures: this.maxConsecutiveFailures,
    });
  }
}

export function simulate(options: SimOptions): SimResult {
  return new Simulation(options).run();
}
