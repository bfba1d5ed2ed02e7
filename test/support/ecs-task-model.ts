/**
 * The state of one ECS service's deployments and tasks over time, and how ECS's JSON protocol shows
 * them: the model behind task-simulator.ts. As in an ECS rolling update, a new deployment's tasks are
 * PENDING, then RUNNING `startDelayMs` after it was created; the older deployments' running tasks are
 * then told to stop (desiredStatus STOPPED, lastStatus DEACTIVATING, as through a load balancer's
 * deregistration delay, so ListTasks RUNNING no longer lists them) and are STOPPED `drainMs` later,
 * when their ACTIVE deployment goes. Times are settled lazily by `advance`, with no timers.
 */
import { randomBytes, randomInt } from 'crypto';
import { parseServiceArn } from '../../core/ecs-services';

export type LastStatus = 'PENDING' | 'RUNNING' | 'DEACTIVATING' | 'STOPPED';
export type Json = Record<string, unknown>;

export interface ModelTask {
  readonly arn: string;
  readonly deploymentId: string;
  createdAt: number;
  /** When it is (or was) RUNNING; undefined: not yet known (stuck) or never. */
  runAt?: number;
  /** When ECS told it to stop (desiredStatus STOPPED), and when it stopped. */
  stopAt?: number;
  stoppedAt?: number;
}

export interface ModelDeployment {
  readonly id: string;
  readonly createdAt: number;
  readonly taskDefinitionArn: string;
  status: 'PRIMARY' | 'ACTIVE';
  /** Its tasks all ran and the older deployments' tasks were told to stop. */
  handedOver: boolean;
  /** Frozen when superseded; a PRIMARY's is derived. */
  rolloutState?: 'IN_PROGRESS' | 'COMPLETED';
}

export interface ModelService {
  readonly arn: string;
  readonly name: string;
  readonly cluster: string;
  readonly clusterArn: string;
  readonly launchType: string;
  desiredCount: number;
  taskDefinitionArn: string;
  stuck: boolean;
  /** Newest (PRIMARY) first. */
  deployments: ModelDeployment[];
  tasks: ModelTask[];
  /** Deployment ids moto reported that the model already accounts for. */
  readonly motoIds: Set<string>;
}

export interface Timing {
  readonly startDelayMs: number;
  readonly drainMs: number;
}

/** ECS lists stopped tasks for at least an hour. */
const STOPPED_RETENTION_MS = 3600_000;
const sec = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);

export function newModelService(arn: string, desiredCount: number, taskDefinitionArn: string, launchType: string): ModelService {
  const parts = parseServiceArn(arn);
  if (parts === undefined) throw new Error(`task simulator: '${arn}' is not a long-format ECS service ARN`);
  return {
    arn,
    name: parts.name,
    cluster: parts.cluster,
    clusterArn: `arn:aws:ecs:${parts.region}:${parts.account}:cluster/${parts.cluster}`,
    launchType,
    desiredCount,
    taskDefinitionArn,
    stuck: false,
    deployments: [],
    tasks: [],
    motoIds: new Set(),
  };
}

/** A new task ARN in the long format: `…:task/<cluster>/<32 hex>`. */
export function newTaskArn(s: ModelService): string {
  return `${s.clusterArn.replace(':cluster/', ':task/')}/${randomBytes(16).toString('hex')}`;
}

/** ECS's form: `ecs-svc/` and 19 digits. */
export function newDeploymentId(): string {
  return `ecs-svc/${randomInt(1e9, 1e10 - 1)}${String(randomInt(0, 1e9)).padStart(9, '0')}`;
}

/** What UpdateService(forceNewDeployment) does at `now`: a new PRIMARY whose tasks start after the delay (never while stuck). */
export function startDeployment(s: ModelService, now: number, id: string, timing: Timing): void {
  advance(s, now, timing);
  for (const d of s.deployments) {
    d.rolloutState ??= rolloutStateOf(s, d);
    d.status = 'ACTIVE';
  }
  // Tasks of a superseded deployment that never ran are stopped at once; running ones wait for the new tasks.
  for (const t of s.tasks) {
    if (t.stopAt !== undefined || (t.runAt !== undefined && t.runAt <= now)) continue;
    t.runAt = undefined;
    t.stopAt = t.stoppedAt = now;
  }
  s.deployments.unshift({ id, createdAt: now, taskDefinitionArn: s.taskDefinitionArn, status: 'PRIMARY', handedOver: false });
  const runAt = s.stuck ? undefined : now + timing.startDelayMs;
  for (let i = 0; i < s.desiredCount; i++) s.tasks.push({ arn: newTaskArn(s), deploymentId: id, createdAt: now, runAt });
}

/** Stuck: the PRIMARY's tasks that have not run stay PENDING. Released: they start after the delay. */
export function setStuck(s: ModelService, now: number, stuck: boolean, timing: Timing): void {
  advance(s, now, timing);
  s.stuck = stuck;
  for (const t of s.tasks.filter((task) => task.deploymentId === s.deployments[0]?.id && task.stopAt === undefined)) {
    if (stuck && (t.runAt === undefined || t.runAt > now)) t.runAt = undefined;
    if (!stuck && t.runAt === undefined) t.runAt = now + timing.startDelayMs;
  }
}

/** Settles what happened up to `now`: hand-overs, stops, ended deployments, forgotten stopped tasks. */
export function advance(s: ModelService, now: number, timing: Timing): void {
  for (const [i, d] of [...s.deployments.entries()].reverse()) {
    // Only the PRIMARY can take over: a superseded deployment's hand-over was settled when it was superseded.
    const own = s.tasks.filter((t) => t.deploymentId === d.id && t.stopAt === undefined);
    if (d.handedOver || d.status !== 'PRIMARY' || own.some((t) => t.runAt === undefined || t.runAt > now)) continue;
    const ranAt = Math.max(d.createdAt + timing.startDelayMs, ...own.map((t) => t.runAt as number));
    if (ranAt > now) continue; // desiredCount 0: nothing to wait for but the start delay
    const older = new Set(s.deployments.slice(i + 1).map((o) => o.id));
    for (const t of s.tasks.filter((task) => older.has(task.deploymentId) && task.stopAt === undefined)) {
      t.stopAt = ranAt;
      t.stoppedAt = ranAt + timing.drainMs;
    }
    d.handedOver = true;
  }
  const live = (t: ModelTask) => t.stoppedAt === undefined || t.stoppedAt > now;
  s.deployments = s.deployments.filter((d) => d.status === 'PRIMARY' || s.tasks.some((t) => t.deploymentId === d.id && live(t)));
  s.tasks = s.tasks.filter((t) => t.stoppedAt === undefined || t.stoppedAt > now - STOPPED_RETENTION_MS);
}

export function lastStatus(t: ModelTask, now: number): LastStatus {
  if (t.stoppedAt !== undefined && t.stoppedAt <= now) return 'STOPPED';
  const ran = t.runAt !== undefined && t.runAt <= now;
  if (t.stopAt !== undefined && t.stopAt <= now) return ran ? 'DEACTIVATING' : 'STOPPED';
  return ran ? 'RUNNING' : 'PENDING';
}

export function desiredStatus(t: ModelTask, now: number): 'RUNNING' | 'STOPPED' {
  return t.stopAt !== undefined && t.stopAt <= now ? 'STOPPED' : 'RUNNING';
}

/** The task definition a task runs: its deployment's (the service's once that deployment is gone). */
export function taskDefinitionOf(s: ModelService, t: ModelTask): string {
  return s.deployments.find((d) => d.id === t.deploymentId)?.taskDefinitionArn ?? s.taskDefinitionArn;
}

function rolloutStateOf(s: ModelService, d: ModelDeployment): 'IN_PROGRESS' | 'COMPLETED' {
  return d.rolloutState ?? (d.handedOver && s.deployments.length === 1 ? 'COMPLETED' : 'IN_PROGRESS');
}

/**
 * Writes the model's deployments (PRIMARY first, then ACTIVE ones while their tasks run) and counts into
 * moto's JSON of the service, keeping moto's other fields. Call `advance` first.
 */
export function renderService(s: ModelService, json: Json, now: number): void {
  const template = ((json.deployments ?? []) as Json[])[0] ?? {};
  const count = (tasks: ModelTask[], status: LastStatus) => tasks.filter((t) => lastStatus(t, now) === status).length;
  json.deployments = s.deployments.map((d) => {
    const tasks = s.tasks.filter((t) => t.deploymentId === d.id);
    const rolloutState = rolloutStateOf(s, d);
    return {
      ...template,
      id: d.id,
      status: d.status,
      taskDefinition: d.taskDefinitionArn,
      // An ACTIVE deployment is scaled down as its tasks are told to stop.
      desiredCount: d.status === 'PRIMARY' ? s.desiredCount : tasks.filter((t) => desiredStatus(t, now) === 'RUNNING').length,
      pendingCount: count(tasks, 'PENDING'),
      runningCount: count(tasks, 'RUNNING'),
      failedTasks: 0,
      createdAt: sec(d.createdAt),
      updatedAt: sec(d.createdAt),
      rolloutState,
      rolloutStateReason: `ECS deployment ${d.id} ${rolloutState === 'COMPLETED' ? 'completed' : 'in progress'}.`,
    };
  });
  Object.assign(json, { desiredCount: s.desiredCount, runningCount: count(s.tasks, 'RUNNING'), pendingCount: count(s.tasks, 'PENDING') });
}

/** ECS's Task shape, dates in epoch seconds as the JSON protocol sends them. Call `advance` first. */
export function renderTask(s: ModelService, t: ModelTask, now: number): Json {
  const ran = t.runAt !== undefined && t.runAt <= now;
  const stopping = t.stopAt !== undefined && t.stopAt <= now;
  const stopped = t.stoppedAt !== undefined && t.stoppedAt <= now;
  return {
    taskArn: t.arn,
    clusterArn: s.clusterArn,
    taskDefinitionArn: taskDefinitionOf(s, t),
    group: `service:${s.name}`,
    startedBy: t.deploymentId,
    launchType: s.launchType,
    lastStatus: lastStatus(t, now),
    desiredStatus: desiredStatus(t, now),
    createdAt: sec(t.createdAt),
    ...(ran ? { startedAt: sec(t.runAt) } : {}),
    ...(stopping ? { stoppingAt: sec(t.stopAt), stopCode: 'ServiceSchedulerInitiated' } : {}),
    ...(stopping ? { stoppedReason: `Scaling activity initiated by (deployment ${s.deployments[0]?.id})` } : {}),
    ...(stopped ? { stoppedAt: sec(t.stoppedAt) } : {}),
    version: 1 + Number(ran) + Number(stopping) + Number(stopped),
  };
}
