/**
 * Running ECS tasks for the local stack. moto keeps services and a single deployment entry but runs no
 * task (FACTS.md, "moto differences"). Attached to the fault proxy, the simulator answers ListTasks and
 * DescribeTasks from a model of each service's deployments and tasks (ecs-task-model.ts), and rewrites
 * moto's CreateService, UpdateService and DescribeServices answers so deployments and counts are what ECS
 * would show, deployment ids staying moto's. The model is read at the clock's time on every call (no
 * timers), so a test that moves its clock sees the new state at once.
 */
import { AwsErrorAnswer, FaultProxy } from './fault-proxy';
import {
  advance,
  desiredStatus,
  Json,
  LastStatus,
  lastStatus,
  ModelService,
  newDeploymentId,
  newModelService,
  newTaskArn,
  renderService,
  renderTask,
  setStuck,
  startDeployment,
  taskDefinitionOf,
} from './ecs-task-model';

export interface TaskSimulatorOptions {
  /** From a deployment's creation (or a stuck service's release) to its tasks RUNNING, ms (default 0). */
  readonly startDelayMs?: number;
  /** From the new tasks RUNNING to the old ones STOPPED, ms: deregistration delay plus stop timeout (default 0). */
  readonly drainMs?: number;
  /** The clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Model services first seen in CreateService or DescribeServices answers (default true). */
  readonly learn?: boolean;
}

export interface RegisterOptions {
  /** Tasks the service runs (default 1). */
  readonly desiredCount?: number;
  /** Default: unknown. */
  readonly taskDefinitionArn?: string;
  /** The id of the deployment moto holds, so that moto's next id is seen as a new deployment (default a new id). */
  readonly deploymentId?: string;
  /** When that deployment was created and its tasks started (default now). */
  readonly createdAt?: Date | number;
}

export interface TaskView {
  readonly taskArn: string;
  /** The deployment that started it (ECS's `startedBy`). */
  readonly deploymentId: string;
  readonly createdAt: Date;
  readonly startedAt?: Date;
  readonly stoppedAt?: Date;
  readonly lastStatus: LastStatus;
  readonly desiredStatus: 'RUNNING' | 'STOPPED';
}

export interface ServiceCounts {
  readonly running: number;
  readonly pending: number;
  /** Told to stop, not stopped yet (DEACTIVATING). */
  readonly draining: number;
  readonly deployments: number;
}

const PAGE_LIMIT = 100;
const lastSegment = (nameOrArn: unknown) => String(nameOrArn).split('/').pop() as string;
const clusterOf = (request: Json) => (request.cluster === undefined ? 'default' : lastSegment(request.cluster));
const invalid = (message: string) => new AwsErrorAnswer('InvalidParameterException', message);
const motoIdOf = (json: Json) => ((json.deployments ?? []) as Json[])[0]?.id as string | undefined;

export class TaskSimulator {
  private readonly timing: { startDelayMs: number; drainMs: number };
  private readonly now: () => number;
  private readonly learn: boolean;
  private readonly services = new Map<string, ModelService>();

  constructor(opts: TaskSimulatorOptions = {}) {
    this.timing = { startDelayMs: opts.startDelayMs ?? 0, drainMs: opts.drainMs ?? 0 };
    this.now = opts.now ?? Date.now;
    this.learn = opts.learn ?? true;
  }

  /** Answers and rewrites the proxy's ECS calls from now on (hooks already set keep going first). */
  attach(proxy: FaultProxy): void {
    const [respond, rewrite] = [proxy.respond, proxy.rewrite];
    proxy.respond = async (operation, body) => (await respond?.(operation, body)) ?? this.respond(operation, body);
    proxy.rewrite = async (operation, request, response) => {
      const prior = (await rewrite?.(operation, request, response)) ?? response;
      return this.rewrite(operation, request, prior) ?? prior;
    };
  }

  /** A service in a steady state: one deployment that has run `desiredCount` tasks since `createdAt`. */
  register(serviceArn: string, opts: RegisterOptions = {}): void {
    const createdAt = opts.createdAt === undefined ? this.now() : new Date(opts.createdAt).getTime();
    const s = newModelService(serviceArn, opts.desiredCount ?? 1, opts.taskDefinitionArn ?? 'unknown', 'FARGATE');
    const id = opts.deploymentId ?? newDeploymentId();
    s.motoIds.add(id);
    s.deployments = [{ id, createdAt, taskDefinitionArn: s.taskDefinitionArn, status: 'PRIMARY', handedOver: true }];
    for (let i = 0; i < s.desiredCount; i++) s.tasks.push({ arn: newTaskArn(s), deploymentId: id, createdAt, runAt: createdAt });
    this.services.set(serviceArn, s);
  }

  has(serviceArn: string): boolean {
    return this.services.has(serviceArn);
  }

  /** UpdateService(forceNewDeployment) in the model only (moto is not called); returns the new deployment's id. */
  forceNewDeployment(serviceArn: string, deploymentId = newDeploymentId()): string {
    startDeployment(this.service(serviceArn), this.now(), deploymentId, this.timing);
    return deploymentId;
  }

  /** A stuck service's new tasks stay PENDING (its old ones keep running) until released; then they start after startDelayMs. */
  setStuck(serviceArn: string, stuck: boolean): void {
    setStuck(this.service(serviceArn), this.now(), stuck, this.timing);
  }

  /** Moves a task in time, e.g. `{ startedAt: now - 2 h }` for a task that outlived its rollout (createdAt follows if later). */
  setTaskTimes(taskArn: string, times: { createdAt?: Date | number; startedAt?: Date | number }): void {
    const task = [...this.services.values()].flatMap((s) => s.tasks).find((t) => t.arn === taskArn);
    if (task === undefined) throw new Error(`setTaskTimes: no task ${taskArn}`);
    if (times.startedAt !== undefined) task.runAt = new Date(times.startedAt).getTime();
    if (times.createdAt !== undefined) task.createdAt = new Date(times.createdAt).getTime();
    else if (task.runAt !== undefined) task.createdAt = Math.min(task.createdAt, task.runAt);
  }

  /** The service's tasks now (stopped ones for an hour), oldest first. */
  tasks(serviceArn: string): TaskView[] {
    const [s, now] = this.settled(serviceArn);
    return s.tasks.map((t) => ({
      taskArn: t.arn,
      deploymentId: t.deploymentId,
      createdAt: new Date(t.createdAt),
      ...(t.runAt !== undefined && t.runAt <= now ? { startedAt: new Date(t.runAt) } : {}),
      ...(t.stoppedAt !== undefined && t.stoppedAt <= now ? { stoppedAt: new Date(t.stoppedAt) } : {}),
      lastStatus: lastStatus(t, now),
      desiredStatus: desiredStatus(t, now),
    }));
  }

  counts(serviceArn: string): ServiceCounts {
    const views = this.tasks(serviceArn);
    const count = (status: LastStatus) => views.filter((v) => v.lastStatus === status).length;
    const deployments = this.service(serviceArn).deployments.length;
    return { running: count('RUNNING'), pending: count('PENDING'), draining: count('DEACTIVATING'), deployments };
  }

  /** The proxy's `respond` hook: ListTasks and DescribeTasks from the model; undefined forwards to moto. */
  respond(operation: string, body: string): unknown | undefined {
    if (operation === 'ListTasks') return this.listTasks(JSON.parse(body || '{}') as Json);
    if (operation === 'DescribeTasks') return this.describeTasks(JSON.parse(body || '{}') as Json);
    return undefined;
  }

  /** The proxy's `rewrite` hook: moto's answers about services, with the model's deployments and counts. */
  rewrite(operation: string, requestBody: string, response: unknown): unknown | undefined {
    const out = response as Json;
    if (operation === 'DescribeServices') for (const json of (out.services ?? []) as Json[]) this.described(json);
    else if (operation === 'CreateService' && this.learn) this.created(out.service as Json);
    else if (operation === 'UpdateService') this.updated(JSON.parse(requestBody) as Json, out.service as Json);
    else if (operation === 'DeleteService') this.services.delete(String((out.service as Json | undefined)?.serviceArn));
    else return undefined;
    return out;
  }

  private service(arn: string): ModelService {
    const s = this.services.get(arn);
    if (s === undefined) throw new Error(`task simulator: no service ${arn} (register it first)`);
    return s;
  }

  private settled(arn: string): [ModelService, number] {
    const s = this.service(arn);
    const now = this.now();
    advance(s, now, this.timing);
    return [s, now];
  }

  private render(s: ModelService, json: Json): void {
    const now = this.now();
    advance(s, now, this.timing);
    renderService(s, json, now);
  }

  /** A new service's first deployment is a rollout like any other: its tasks start after the delay. */
  private created(json: Json): void {
    const launchType = String(json.launchType ?? 'FARGATE');
    const s = newModelService(String(json.serviceArn), Number(json.desiredCount ?? 1), String(json.taskDefinition), launchType);
    this.services.set(s.arn, s);
    const id = motoIdOf(json) ?? newDeploymentId();
    s.motoIds.add(id);
    startDeployment(s, this.now(), id, this.timing);
    this.render(s, json);
  }

  private updated(request: Json, json: Json): void {
    const s = this.services.get(String(json.serviceArn));
    if (s === undefined) return this.described(json);
    const motoId = motoIdOf(json);
    const newTaskDefinition = request.taskDefinition !== undefined && json.taskDefinition !== s.taskDefinitionArn;
    if (typeof request.desiredCount === 'number') s.desiredCount = request.desiredCount;
    if (newTaskDefinition) s.taskDefinitionArn = String(json.taskDefinition);
    if (request.forceNewDeployment === true || newTaskDefinition) {
      const id = motoId !== undefined && !s.motoIds.has(motoId) ? motoId : newDeploymentId();
      startDeployment(s, this.now(), id, this.timing);
    }
    if (motoId !== undefined) s.motoIds.add(motoId);
    this.render(s, json);
  }

  /** An ACTIVE service the model does not know yet is learned, in a steady state since moto's deployment. */
  private described(json: Json): void {
    const arn = String(json.serviceArn);
    const motoId = motoIdOf(json);
    if (!this.services.has(arn)) {
      if (!this.learn || json.status !== 'ACTIVE') return;
      const motoCreatedAt = Number(((json.deployments ?? []) as Json[])[0]?.createdAt ?? Infinity) * 1000;
      const desiredCount = Number(json.desiredCount ?? 1);
      this.register(arn, {
        desiredCount,
        taskDefinitionArn: String(json.taskDefinition),
        deploymentId: motoId,
        createdAt: Math.min(this.now(), motoCreatedAt),
      });
    }
    const s = this.service(arn);
    // A deployment forced straight against moto (not through the proxy) is seen when the service is next described.
    if (motoId !== undefined && !s.motoIds.has(motoId)) {
      s.motoIds.add(motoId);
      startDeployment(s, this.now(), motoId, this.timing);
    }
    this.render(s, json);
  }

  private servicesIn(cluster: string, serviceName?: unknown): ModelService[] {
    const match = (s: ModelService) => s.cluster === cluster && (serviceName === undefined || s.name === lastSegment(serviceName));
    return [...this.services.values()].filter(match);
  }

  /** Pages of at most 100, in creation order; the token is the offset of the next page. */
  private listTasks(request: Json): unknown | undefined {
    const services = this.servicesIn(clusterOf(request), request.serviceName);
    if (services.length === 0) return undefined; // not modelled: moto's answer
    const max = request.maxResults ?? PAGE_LIMIT;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > PAGE_LIMIT)
      throw invalid('maxResults must be between 1 and 100.');
    const offset = request.nextToken === undefined ? 0 : Number(Buffer.from(String(request.nextToken), 'base64url').toString('utf8'));
    if (!Number.isInteger(offset) || offset < 0) throw invalid('Invalid nextToken.');
    const now = this.now();
    const wanted = request.desiredStatus ?? 'RUNNING';
    const family = (s: ModelService, t: ModelService['tasks'][number]) => taskDefinitionOf(s, t).split('/').pop()?.split(':')[0];
    const arns = services.flatMap((s) => {
      advance(s, now, this.timing);
      return s.tasks
        .filter((t) => desiredStatus(t, now) === wanted && (request.startedBy === undefined || t.deploymentId === request.startedBy))
        .filter((t) => request.family === undefined || family(s, t) === request.family)
        .map((t) => t.arn);
    });
    const end = offset + max;
    return {
      taskArns: arns.slice(offset, end),
      ...(end < arns.length ? { nextToken: Buffer.from(String(end)).toString('base64url') } : {}),
    };
  }

  /** Tasks by ARN or id, of the request's cluster; others are failures with reason MISSING. */
  private describeTasks(request: Json): unknown {
    const wanted = (request.tasks ?? []) as string[];
    if (wanted.length === 0) throw invalid('Tasks cannot be empty.');
    if (wanted.length > PAGE_LIMIT) throw invalid('Tasks cannot be longer than 100.');
    const now = this.now();
    const services = this.servicesIn(clusterOf(request));
    for (const s of services) advance(s, now, this.timing);
    const tasks: Json[] = [];
    const failures: Json[] = [];
    for (const ref of wanted) {
      const s = services.find((svc) => svc.tasks.some((t) => t.arn === ref || lastSegment(t.arn) === ref));
      const t = s?.tasks.find((task) => task.arn === ref || lastSegment(task.arn) === ref);
      if (s === undefined || t === undefined) failures.push({ arn: ref, reason: 'MISSING' });
      else tasks.push(renderTask(s, t, now));
    }
    return { tasks, failures };
  }
}
