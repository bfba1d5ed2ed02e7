/**
 * The fleet check: for every bound service, how many running tasks hold the
 * current, the previous and older tokens, and the oldest expiry any of them
 * holds. Steady state costs one DescribeServices per 10 services of a cluster:
 * tasks are listed (ListTasks, DescribeTasks) only for services with a
 * deployment or task set created before the current promotion.
 *
 * The ECS calls go through a port, so the watchdog (with its client and
 * retries) and the CLI share the logic, and tests count the calls.
 */
import { describeBatches } from './ecs-services';
import { HeldToken, mayRunOlderTasks, TokenAge, tokenHeldBy } from './fleet';
import { PromotionRecord } from '../lib/secret-tags';

export interface ServiceView {
  readonly serviceArn: string;
  /** ACTIVE, DRAINING or INACTIVE. */
  readonly status?: string;
  /** ECS (default), CODE_DEPLOY or EXTERNAL. */
  readonly deploymentController?: string;
  readonly serviceName?: string;
  readonly runningCount?: number;
  /** Deployments (ECS controller) and task sets (the others): when each was created. */
  readonly createdAts: ReadonlyArray<Date | undefined>;
}

export interface TaskView {
  readonly taskArn: string;
  readonly createdAt?: Date;
}

/** The ECS calls of a survey. Each call counts as one. */
export interface FleetPort {
  /** At most 10 services, all of one cluster. `missing`: ARNs ECS does not know. */
  describeServices(cluster: string, serviceArns: readonly string[]): Promise<{ services: ServiceView[]; missing: string[] }>;
  /** One page of RUNNING task ARNs of a service (ECS pages by 100). */
  listTasks(cluster: string, serviceName: string, nextToken?: string): Promise<{ taskArns: string[]; nextToken?: string }>;
  /** At most 100 tasks of one cluster. */
  describeTasks(cluster: string, taskArns: readonly string[]): Promise<TaskView[]>;
}

export type TokenCounts = Record<TokenAge, number>;

export interface ServiceFleet {
  readonly serviceArn: string;
  /**
   * surveyed: its tasks were listed; current: every deployment is newer than
   * the promotion (tasks not listed); gone: inactive or unknown to ECS;
   * failed: a call failed (`error`).
   */
  readonly state: 'surveyed' | 'current' | 'gone' | 'failed';
  readonly deploymentController?: string;
  /** Running tasks by the token they hold; for `current`, runningCount tasks on the current token. */
  readonly tasks: TokenCounts;
  /** Tasks created before the current promotion (previous + older). */
  readonly staleTasks: number;
  /** The earliest expiry a running task of this service holds; null: some task's token is unknown (counted expired). */
  readonly oldestExpiresAt?: Date | null;
  readonly error?: string;
}

export interface FleetSurvey {
  readonly services: ServiceFleet[];
  /**
   * The earliest expiry of a token any running task holds, AWSCURRENT's
   * included (a task started now gets it); null when some task holds a token
   * older than the history (unknown: counted as expired); undefined when no
   * token exists yet (the placeholder) and no task runs.
   */
  readonly oldestExpiresAt: Date | null | undefined;
  /** ECS calls made. */
  readonly calls: number;
  /** Services whose tasks were listed. */
  readonly drilledDown: number;
}

/** DescribeTasks takes at most 100 tasks per call. */
const DESCRIBE_TASKS_BATCH = 100;

/**
 * Surveys `serviceArns` against `history` (newest first, fleetHistoryOf).
 * One service's failed call never stops the others. The tasks of every
 * drilled-down service of a cluster are described together, 100 a call.
 */
export async function surveyFleet(
  port: FleetPort,
  serviceArns: readonly string[],
  history: readonly PromotionRecord[],
): Promise<FleetSurvey> {
  let calls = 0;
  const counted = <T>(p: Promise<T>): Promise<T> => {
    calls++;
    return p;
  };
  const current = history[0];
  const fleets: ServiceFleet[] = [];
  const drill = new Map<string, ServiceView[]>();
  const { batches, invalid } = describeBatches(serviceArns);
  for (const arn of invalid) fleets.push(failed(arn, 'not a long-format ECS service ARN'));
  for (const { cluster, arns } of batches) {
    let described: { services: ServiceView[]; missing: string[] };
    try {
      described = await counted(port.describeServices(cluster, arns));
    } catch (err) {
      for (const arn of arns) fleets.push(failed(arn, errorText(err)));
      continue;
    }
    for (const arn of described.missing) fleets.push({ serviceArn: arn, state: 'gone', tasks: zero(), staleTasks: 0 });
    for (const service of described.services) {
      const base = { serviceArn: service.serviceArn, deploymentController: service.deploymentController ?? 'ECS' };
      if (service.status !== undefined && service.status !== 'ACTIVE') {
        fleets.push({ ...base, state: 'gone', tasks: zero(), staleTasks: 0 });
      } else if (current !== undefined && !mayRunOlderTasks(service.createdAts, current.promotedAt)) {
        const tasks = { ...zero(), current: service.runningCount ?? 0 };
        const oldestExpiresAt = tasks.current > 0 ? current.expiresAt : undefined;
        fleets.push({ ...base, state: 'current', tasks, staleTasks: 0, oldestExpiresAt });
      } else {
        drill.set(cluster, [...(drill.get(cluster) ?? []), service]);
      }
    }
  }
  let drilledDown = 0;
  for (const [cluster, services] of drill) {
    drilledDown += services.length;
    fleets.push(...(await drillDown(port, cluster, services, history, counted)));
  }
  return { services: fleets, oldestExpiresAt: oldestOf([current?.expiresAt, ...fleets.map((f) => f.oldestExpiresAt)]), calls, drilledDown };
}

/** Lists each service's running tasks, then describes all of them, 100 a call, and counts each service's tokens. */
async function drillDown(
  port: FleetPort,
  cluster: string,
  services: readonly ServiceView[],
  history: readonly PromotionRecord[],
  counted: <T>(p: Promise<T>) => Promise<T>,
): Promise<ServiceFleet[]> {
  const owner = new Map<string, ServiceView>();
  const held = new Map<ServiceView, HeldToken[]>();
  const errors = new Map<ServiceView, string>();
  for (const service of services) {
    held.set(service, []);
    try {
      for (const taskArn of await listRunningTasks(port, cluster, service, counted)) owner.set(taskArn, service);
    } catch (err) {
      errors.set(service, errorText(err));
    }
  }
  const taskArns = [...owner.keys()];
  for (let i = 0; i < taskArns.length; i += DESCRIBE_TASKS_BATCH) {
    const chunk = taskArns.slice(i, i + DESCRIBE_TASKS_BATCH);
    try {
      for (const task of await counted(port.describeTasks(cluster, chunk))) {
        const service = owner.get(task.taskArn);
        if (service !== undefined) held.get(service)!.push(tokenHeldBy(task.createdAt, history));
      }
    } catch (err) {
      for (const arn of chunk) errors.set(owner.get(arn)!, errorText(err));
    }
  }
  return services.map((service) => {
    const deploymentController = service.deploymentController ?? 'ECS';
    const error = errors.get(service);
    if (error !== undefined) return { ...failed(service.serviceArn, error), deploymentController };
    return { serviceArn: service.serviceArn, deploymentController, state: 'surveyed', ...summarize(held.get(service)!) };
  });
}

async function listRunningTasks(
  port: FleetPort,
  cluster: string,
  service: ServiceView,
  counted: <T>(p: Promise<T>) => Promise<T>,
): Promise<string[]> {
  const name = service.serviceName ?? service.serviceArn.split('/').pop()!;
  const taskArns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await counted(port.listTasks(cluster, name, nextToken));
    taskArns.push(...page.taskArns);
    nextToken = page.nextToken;
  } while (nextToken);
  return taskArns;
}

function summarize(held: readonly HeldToken[]): Pick<ServiceFleet, 'tasks' | 'staleTasks' | 'oldestExpiresAt'> {
  const tasks = zero();
  for (const h of held) tasks[h.age]++;
  return {
    tasks,
    staleTasks: tasks.previous + tasks.older,
    oldestExpiresAt: held.length === 0 ? undefined : oldestOf(held.map((h) => h.expiresAt ?? null)),
  };
}

/** The earliest of the known dates; null when any is null (unknown, counted as expired); undefined when none is given. */
function oldestOf(dates: ReadonlyArray<Date | null | undefined>): Date | null | undefined {
  let oldest: Date | undefined;
  for (const d of dates) {
    if (d === null) return null;
    if (d !== undefined && (oldest === undefined || d.getTime() < oldest.getTime())) oldest = d;
  }
  return oldest;
}

function zero(): TokenCounts {
  return { current: 0, previous: 0, older: 0 };
}

function failed(serviceArn: string, error: string): ServiceFleet {
  return { serviceArn, state: 'failed', tasks: zero(), staleTasks: 0, error };
}

function errorText(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return `${e.name ?? 'Error'}: ${e.message ?? String(err)}`;
}
