/**
 * The ECS tasks that read the secret: service tasks read AWSCURRENT when they
 * start and each promotion rolls every service out (forceNewDeployment); a
 * share of rollouts never finishes, and the watchdog's healer gives such a
 * service one more deployment. Standalone tasks (RunTask) read AWSCURRENT
 * when they start, run a fixed time and are never redeployed.
 */
import { startedAfterPromotion } from '../../core/ecs-services';
import { healAfter, healDue } from '../../core/fleet';
import { DAY, EventQueue, SIM_EPOCH_MS } from './clock';
import { SimOptions } from './options';
import { AccessKey, DeploymentRecord, RotationRecord, TaskRecord, TokenRecord } from './records';

interface Service {
  readonly id: number;
  deployment: number;
  /** When its newest deployment started. */
  deployedAt: number;
  /** The promotion for which the healer has nothing (more) to do. */
  settledFor: number;
  readonly running: Set<TaskRecord>;
}

const dateOf = (t: number) => new Date(SIM_EPOCH_MS + t * 1000);

export class EcsServices {
  public readonly tasks: TaskRecord[] = [];
  public readonly deployments: DeploymentRecord[] = [];
  private readonly services: Service[] = [];

  /**
   * `uniform` is the run's one PRNG (so draws keep their order); `currentTokenId`
   * is AWSCURRENT's token when a task starts.
   */
  constructor(
    private readonly q: EventQueue,
    private readonly o: SimOptions,
    private readonly uniform: (min: number, max: number) => number,
    private readonly currentTokenId: () => number,
  ) {
    for (let s = 0; s < o.services; s++) this.services.push({ id: s, deployment: 0, deployedAt: 0, settledFor: -1, running: new Set() });
  }

  /** The services are created after the first rotation: their tasks start with its token; so do the standalone tasks. */
  public startAll(): void {
    const now = this.q.now;
    for (const s of this.services) {
      s.deployedAt = now;
      for (let i = 0; i < this.o.tasksPerService; i++) {
        this.q.schedule(now + this.uniform(0, 60), () => this.startTask(s, 0));
      }
    }
    const standalone = this.o.standalone;
    if (standalone === undefined) return;
    const count = Math.round((standalone.perDay * (this.o.durationSeconds - now)) / DAY);
    for (let i = 0; i < count; i++) {
      this.q.schedule(this.uniform(now, this.o.durationSeconds), () => this.startStandalone(standalone.runSeconds));
    }
  }

  /** Every promotion after the initial one rolls every service out. */
  public rolloutAll(rotation: RotationRecord): void {
    for (const s of this.services) this.rollout(s, rotation, 'promotion');
  }

  /**
   * The watchdog's healer at one check, for AWSCURRENT promoted at
   * `promotedAt` by `rotation`: core/fleet.ts's healDue on each service's tasks
   * started before that promotion, and at most one heal per promotion (none
   * once a deployment started at or after healAfter).
   */
  public heal(promotedAt: number, rotation: RotationRecord): void {
    const allowance = this.o.config.rolloutAllowanceSeconds;
    // Nothing is due before healAfter, nor for a settled service: skip the date arithmetic on most checks.
    if (this.q.now < promotedAt + allowance) return;
    for (const s of this.services) {
      if (s.settledFor === promotedAt) continue;
      const promoted = dateOf(promotedAt);
      let staleTasks = 0;
      for (const t of s.running) if (!startedAfterPromotion(dateOf(t.startedAt), promoted)) staleTasks++;
      const due = healDue({ now: dateOf(this.q.now), promotedAt: promoted, rolloutAllowanceSeconds: allowance, staleTasks });
      // One heal per promotion: none once a deployment started at or after healAfter (the heal, or a newer one).
      if (due && dateOf(s.deployedAt).getTime() < healAfter(promoted, allowance).getTime()) this.rollout(s, rotation, 'heal');
      // Neither changes for this promotion: no new task starts before it, and deployedAt only grows.
      else s.settledFor = promotedAt;
    }
  }

  /** Whether a running service task holds a token `key` signed (the key guard's fleet survey). */
  public holdsKey(key: AccessKey, tokens: readonly TokenRecord[]): boolean {
    return this.services.some((s) => [...s.running].some((t) => tokens[t.tokenId].key === key));
  }

  /**
   * UpdateService(forceNewDeployment): new tasks start within the first half
   * of the rollout and read AWSCURRENT then; every task not of this
   * deployment stops when it completes. A newer deployment supersedes it:
   * its pending starts and its completion are dropped. A stuck one starts
   * no task and never completes.
   */
  private rollout(s: Service, rotation: RotationRecord, kind: 'promotion' | 'heal'): void {
    const now = this.q.now;
    const deployment = ++s.deployment;
    s.deployedAt = now;
    const stuckShare = kind === 'heal' ? this.o.stuckHealShare : this.o.stuckRolloutShare;
    // Drawn only when stuck rollouts are modelled, so runs without them replay the same draws.
    const stuck = stuckShare > 0 && this.uniform(0, 1) < stuckShare;
    this.deployments.push({ service: s.id, rotationId: rotation.id, kind, at: now, stuck });
    if (stuck) return;
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
    const task: TaskRecord = {
      id: this.tasks.length,
      kind: 'service',
      service: s.id,
      deployment,
      tokenId: this.currentTokenId(),
      startedAt: this.q.now,
    };
    this.tasks.push(task);
    s.running.add(task);
  }

  private startStandalone(runSeconds: number): void {
    const task: TaskRecord = {
      id: this.tasks.length,
      kind: 'standalone',
      service: -1,
      deployment: -1,
      tokenId: this.currentTokenId(),
      startedAt: this.q.now,
    };
    this.tasks.push(task);
    this.q.schedule(this.q.now + runSeconds, () => {
      task.stoppedAt = this.q.now;
    });
  }
}
