import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  paginateListTasks,
  RegisterTaskDefinitionCommand,
  Service,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { FaultProxy, startFaultProxy } from './fault-proxy';
import { deploymentsOf } from './ecs-fixture';
import { LocalStack, startLocalStack } from './local-stack';
import { MotoServer, startMoto } from './moto-server';
import { TaskSimulator } from './task-simulator';

/** The model of running ECS tasks the local stack can put in front of moto, exercised through the SDK. */
describe('task simulator (ECS tasks in front of moto)', () => {
  const START = Date.parse('2026-06-01T00:00:00Z');
  const START_DELAY = 30_000;
  const DRAIN = 300_000;
  let moto: MotoServer;
  let proxy: FaultProxy;
  let direct: ECSClient;
  let ecs: ECSClient;
  let now: number;
  let sim: TaskSimulator;
  let taskDefinition: string;
  let serial = 0;

  beforeAll(async () => {
    moto = await startMoto();
    proxy = await startFaultProxy(moto.endpoint);
    direct = new ECSClient(moto.clientConfig());
    // One attempt per call: the proxy's counts are the SDK calls made.
    ecs = new ECSClient({ ...moto.clientConfig(), endpoint: proxy.endpoint, maxAttempts: 1 });
    await direct.send(new CreateClusterCommand({ clusterName: 'apps' }));
    const td = await direct.send(
      new RegisterTaskDefinitionCommand({ family: 'app', containerDefinitions: [{ name: 'app', image: 'app:1', memory: 512 }] }),
    );
    taskDefinition = td.taskDefinition!.taskDefinitionArn!;
  }, 60_000);
  afterAll(async () => {
    direct?.destroy();
    ecs?.destroy();
    await proxy?.stop();
    await moto?.stop();
  });
  beforeEach(() => {
    now = START;
    proxy.respond = proxy.rewrite = undefined;
    sim = new TaskSimulator({ startDelayMs: START_DELAY, drainMs: DRAIN, now: () => now });
    sim.attach(proxy);
  });

  const describe1 = async (client: ECSClient, arn: string): Promise<Service> =>
    (await client.send(new DescribeServicesCommand({ cluster: 'apps', services: [arn] }))).services![0];
  const running = async (serviceName: string, desiredStatus: 'RUNNING' | 'STOPPED' = 'RUNNING') =>
    ((await ecs.send(new ListTasksCommand({ cluster: 'apps', serviceName, desiredStatus }))).taskArns ?? []).sort();
  const describeTasks = async (tasks: string[]) => ecs.send(new DescribeTasksCommand({ cluster: 'apps', tasks }));
  /** A service created through the proxy (so the simulator learns it), its first rollout done. */
  async function steadyService(desiredCount = 1, via = ecs): Promise<{ arn: string; name: string }> {
    const name = `svc-${++serial}`;
    const created = await via.send(new CreateServiceCommand({ cluster: 'apps', serviceName: name, taskDefinition, desiredCount }));
    now += START_DELAY;
    return { arn: created.service!.serviceArn!, name };
  }

  test('a forced deployment rolls out: new tasks start after startDelayMs, old ones drain for drainMs, then one deployment is left', async () => {
    const { arn, name } = await steadyService(2);
    const oldTasks = await running(name);
    expect(oldTasks).toHaveLength(2);
    const forcedAt = now;
    const updated = (await ecs.send(new UpdateServiceCommand({ cluster: 'apps', service: arn, forceNewDeployment: true }))).service!;
    const motoId = (await describe1(direct, arn)).deployments![0].id;
    expect(updated.deployments!.map((d) => [d.status, d.id === motoId, d.runningCount, d.pendingCount])).toEqual([
      ['PRIMARY', true, 0, 2],
      ['ACTIVE', false, 2, 0],
    ]);
    expect(updated.deployments![0].createdAt).toEqual(new Date(forcedAt));
    // Still pending: listed (desiredStatus RUNNING) with no startedAt.
    const pending = (await running(name)).filter((t) => !oldTasks.includes(t));
    const described = (await describeTasks(pending)).tasks!;
    expect(described.map((t) => [t.lastStatus, t.startedAt, t.startedBy, t.group])).toEqual([
      ['PENDING', undefined, motoId, `service:${name}`],
      ['PENDING', undefined, motoId, `service:${name}`],
    ]);

    now += START_DELAY;
    expect(await running(name)).toEqual(pending);
    expect(await running(name, 'STOPPED')).toEqual(oldTasks);
    const draining = (await describeTasks(oldTasks)).tasks!;
    expect(draining.map((t) => [t.lastStatus, t.desiredStatus, t.stoppingAt])).toEqual([
      ['DEACTIVATING', 'STOPPED', new Date(now)],
      ['DEACTIVATING', 'STOPPED', new Date(now)],
    ]);
    expect((await describeTasks(pending)).tasks!.map((t) => t.startedAt)).toEqual([new Date(now), new Date(now)]);
    expect((await describe1(ecs, arn)).deployments!.map((d) => [d.status, d.rolloutState, d.runningCount])).toEqual([
      ['PRIMARY', 'IN_PROGRESS', 2],
      ['ACTIVE', 'COMPLETED', 0],
    ]);

    now += DRAIN;
    const done = await describe1(ecs, arn);
    expect(done.deployments!.map((d) => [d.id, d.status, d.rolloutState, d.runningCount])).toEqual([[motoId, 'PRIMARY', 'COMPLETED', 2]]);
    expect((await describeTasks(oldTasks)).tasks!.map((t) => [t.lastStatus, t.stoppedAt])).toEqual([
      ['STOPPED', new Date(now)],
      ['STOPPED', new Date(now)],
    ]);
    expect(sim.counts(arn)).toEqual({ running: 2, pending: 0, draining: 0, deployments: 1 });
  });

  test('a stuck service keeps its old tasks and an IN_PROGRESS deployment with 0 running until released', async () => {
    const { arn, name } = await steadyService();
    const [oldTask] = await running(name);
    const oldStart = now; // created START_DELAY ago, running since
    sim.setStuck(arn, true);
    await ecs.send(new UpdateServiceCommand({ cluster: 'apps', service: arn, forceNewDeployment: true }));
    now += 3600_000;
    const stuck = await describe1(ecs, arn);
    expect(stuck.deployments!.map((d) => [d.status, d.rolloutState, d.runningCount, d.pendingCount])).toEqual([
      ['PRIMARY', 'IN_PROGRESS', 0, 1],
      ['ACTIVE', 'COMPLETED', 1, 0],
    ]);
    expect([stuck.runningCount, stuck.pendingCount, stuck.desiredCount]).toEqual([1, 1, 1]);
    const tasks = (await describeTasks(await running(name))).tasks!;
    const old = tasks.find((t) => t.taskArn === oldTask)!;
    expect([old.lastStatus, old.startedAt]).toEqual(['RUNNING', new Date(oldStart)]);
    expect(tasks.filter((t) => t.taskArn !== oldTask).map((t) => t.lastStatus)).toEqual(['PENDING']);

    sim.setStuck(arn, false);
    now += START_DELAY;
    expect(sim.counts(arn)).toEqual({ running: 1, pending: 0, draining: 1, deployments: 2 });
    now += DRAIN;
    expect(await running(name)).not.toContain(oldTask);
    expect(sim.counts(arn)).toEqual({ running: 1, pending: 0, draining: 0, deployments: 1 });

    // Stuck in the middle of a rollout: the tasks that had not started yet never do.
    await ecs.send(new UpdateServiceCommand({ cluster: 'apps', service: arn, forceNewDeployment: true }));
    now += START_DELAY / 2;
    sim.setStuck(arn, true);
    now += 3600_000;
    expect(sim.counts(arn)).toEqual({ running: 1, pending: 1, draining: 0, deployments: 2 });
  });

  test('ListTasks pages by 100 like ECS (nextToken, maxResults) and every call is answered, not forwarded', async () => {
    const arn = 'arn:aws:ecs:us-east-1:123456789012:service/apps/big';
    sim.register(arn, { desiredCount: 250 });
    const before = { calls: proxy.calls.get('ListTasks') ?? 0, answered: proxy.answered.get('ListTasks') ?? 0 };
    const sizes: number[] = [];
    const listed: string[] = [];
    for await (const page of paginateListTasks({ client: ecs }, { cluster: 'apps', serviceName: 'big' })) {
      sizes.push(page.taskArns!.length);
      listed.push(...page.taskArns!);
    }
    expect(sizes).toEqual([100, 100, 50]);
    expect(listed).toEqual(sim.tasks(arn).map((t) => t.taskArn));
    expect(new Set(listed).size).toBe(250);
    let pages = 0;
    for await (const _ of paginateListTasks({ client: ecs, pageSize: 30 }, { cluster: 'apps', serviceName: 'big' })) pages++;
    expect(pages).toBe(9);
    expect(proxy.calls.get('ListTasks')! - before.calls).toBe(12);
    expect(proxy.answered.get('ListTasks')! - before.answered).toBe(12);
    await expect(ecs.send(new ListTasksCommand({ cluster: 'apps', serviceName: 'big', maxResults: 101 }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
    });
    expect(await running('big', 'STOPPED')).toEqual([]);
    // A service the model does not hold: moto answers.
    const answered = proxy.answered.get('ListTasks');
    expect(await running('not-modelled')).toEqual([]);
    expect(proxy.answered.get('ListTasks')).toBe(answered);
  });

  test('DescribeTasks: by ARN or id, unknown ones as MISSING failures, at most 100, times as set', async () => {
    const arn = 'arn:aws:ecs:us-east-1:123456789012:service/apps/timed';
    sim.register(arn, {
      desiredCount: 2,
      createdAt: now - 60_000,
      deploymentId: 'ecs-svc/1234567890123456789',
      taskDefinitionArn: taskDefinition,
    });
    const [a, b] = sim.tasks(arn).map((t) => t.taskArn);
    const twoHoursAgo = now - 2 * 3600_000;
    sim.setTaskTimes(b, { startedAt: twoHoursAgo });
    const missing = 'arn:aws:ecs:us-east-1:123456789012:task/apps/00000000000000000000000000000000';
    const out = await describeTasks([a, missing, b.split('/').pop()!]);
    expect(out.failures).toEqual([{ arn: missing, reason: 'MISSING' }]);
    expect(out.tasks!.map((t) => [t.taskArn, t.createdAt, t.startedAt, t.startedBy, t.taskDefinitionArn, t.clusterArn])).toEqual([
      [
        a,
        new Date(now - 60_000),
        new Date(now - 60_000),
        'ecs-svc/1234567890123456789',
        taskDefinition,
        expect.stringMatching(/:cluster\/apps$/),
      ],
      [
        b,
        new Date(twoHoursAgo),
        new Date(twoHoursAgo),
        'ecs-svc/1234567890123456789',
        taskDefinition,
        expect.stringMatching(/:cluster\/apps$/),
      ],
    ]);
    await expect(describeTasks(Array.from({ length: 101 }, () => a))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    // Another cluster's tasks are not this cluster's.
    const other = await ecs.send(new DescribeTasksCommand({ cluster: 'elsewhere', tasks: [a] }));
    expect(other.failures).toEqual([{ arn: a, reason: 'MISSING' }]);
  });

  test('DescribeServices: moto says 0 running; through the proxy the model holds the deployments and counts, moto failures kept', async () => {
    const { arn } = await steadyService(3, direct); // created straight in moto: learned when first described
    expect((await describe1(direct, arn)).runningCount).toBe(0);
    const seen = (await ecs.send(new DescribeServicesCommand({ cluster: 'apps', services: [arn, 'gone'] }))).services!;
    const out = await ecs.send(new DescribeServicesCommand({ cluster: 'apps', services: [arn, 'gone'] }));
    expect(out.failures).toEqual([expect.objectContaining({ reason: 'MISSING' })]);
    expect(seen[0].deployments!.map((d) => [d.id, d.status, d.rolloutState])).toEqual([
      [(await describe1(direct, arn)).deployments![0].id, 'PRIMARY', 'COMPLETED'],
    ]);
    expect([out.services![0].runningCount, out.services![0].desiredCount]).toEqual([3, 3]);

    // Forced straight against moto: seen as a new deployment when next described through the proxy.
    await direct.send(new UpdateServiceCommand({ cluster: 'apps', service: arn, forceNewDeployment: true }));
    const motoId = (await describe1(direct, arn)).deployments![0].id;
    const after = await describe1(ecs, arn);
    expect(after.deployments!.map((d) => [d.id === motoId, d.status])).toEqual([
      [true, 'PRIMARY'],
      [false, 'ACTIVE'],
    ]);
    // Forced in the model only: moto keeps its deployment, the answer shows the model's.
    now += START_DELAY + DRAIN;
    const modelOnly = sim.forceNewDeployment(arn);
    const shown = await describe1(ecs, arn);
    expect(shown.deployments!.map((d) => [d.id, d.status])).toEqual([
      [modelOnly, 'PRIMARY'],
      [motoId, 'ACTIVE'],
    ]);
    expect([shown.runningCount, shown.pendingCount]).toEqual([3, 3]);
  });

  test('injected faults still come first, and faulted calls are counted as calls', async () => {
    const arn = 'arn:aws:ecs:us-east-1:123456789012:service/apps/faulted';
    sim.register(arn);
    proxy.inject({ operation: 'ListTasks', errorType: 'ThrottlingException', count: 1, match: 'faulted' });
    const calls = proxy.calls.get('ListTasks') ?? 0;
    await expect(running('faulted')).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(await running('faulted')).toEqual(sim.tasks(arn).map((t) => t.taskArn));
    expect(proxy.calls.get('ListTasks')).toBe(calls + 2);
  });
});

describe('startLocalStack({ taskSimulator })', () => {
  let stack: LocalStack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  /** ECS as the shipped functions see it: through the proxy. */
  const viaProxy = (s: LocalStack) => new ECSClient({ ...s.moto.clientConfig(), endpoint: s.proxy.endpoint, maxAttempts: 1 });

  test("each created service runs one task, started by moto's deployment; the proxy answers from the model", async () => {
    stack = await startLocalStack({ services: 2, clusters: 2, taskSimulator: true });
    const ecs = viaProxy(stack);
    try {
      const moto = await deploymentsOf(stack.ecs, stack.serviceArns);
      for (const arn of stack.serviceArns) {
        const [, cluster, serviceName] = arn.split(':').pop()!.split('/');
        const { taskArns } = await ecs.send(new ListTasksCommand({ cluster, serviceName }));
        const { tasks } = await ecs.send(new DescribeTasksCommand({ cluster, tasks: taskArns }));
        expect(tasks!.map((t) => [t.lastStatus, t.startedBy, t.group])).toEqual([
          ['RUNNING', moto.get(arn)![0].id, `service:${serviceName}`],
        ]);
        const [service] = (await ecs.send(new DescribeServicesCommand({ cluster, services: [arn] }))).services!;
        expect([service.runningCount, service.deployments!.map((d) => d.id)]).toEqual([1, [moto.get(arn)![0].id]]);
      }
      expect(stack.proxy.answered.get('ListTasks')).toBe(4);
    } finally {
      ecs.destroy();
    }
  }, 120_000);

  test('off by default: no model, moto answers ListTasks (no task)', async () => {
    stack = await startLocalStack({ services: 1 });
    const ecs = viaProxy(stack);
    try {
      expect(stack.tasks).toBeUndefined();
      const [, cluster, serviceName] = stack.serviceArns[0].split(':').pop()!.split('/');
      expect((await ecs.send(new ListTasksCommand({ cluster, serviceName }))).taskArns).toEqual([]);
      expect(stack.proxy.answered.size).toBe(0);
    } finally {
      ecs.destroy();
    }
  }, 120_000);
});
