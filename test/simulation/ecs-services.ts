/**
 * The ECS services that read the secret: their tasks read AWSCURRENT when
 * they start, and each promotion rolls every service out (forceNewDeployment).
 */
import { EventQueue } from './clock';
import { SimOptions } from './options';
import { RotationRecord, TaskRecord } from './records';

interface Service {
  readonly id: number;
  deployment: number;
  readonly running: Set<TaskRecord>;
}

export class EcsServices {
  public readonly tasks: TaskRecord[] = [];
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
    for (let s = 0; s < o.services; s++) this.services.push({ id: s, deployment: 0, running: new Set() });
  }

  /** The services are created after the first rotation: their tasks start with its token. */
  public startAll(): void {
    const now = this.q.now;
    for (const s of this.services) {
      for (let i = 0; i < this.o.tasksPerService; i++) {
        this.q.schedule(now + this.uniform(0, 60), () => this.startTask(s, 0));
      }
    }
  }

  /** Every promotion after the initial one rolls every service out. */
  public rolloutAll(rotation: RotationRecord): void {
    for (const s of this.services) this.rollout(s, rotation);
  }

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
    const task: TaskRecord = { id: this.tasks.length, service: s.id, deployment, tokenId: this.currentTokenId(), startedAt: this.q.now };
    this.tasks.push(task);
    s.running.add(task);
  }
}
