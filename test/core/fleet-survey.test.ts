import { FleetPort, ServiceView, surveyFleet, TaskView } from '../../core/fleet-survey';
import { PromotionRecord } from '../../lib/secret-tags';

const t = (minutes: number) => new Date(Date.UTC(2026, 0, 1) + minutes * 60_000);
const arn = (cluster: string, name: string) => `arn:aws:ecs:eu-west-1:123456789012:service/${cluster}/${name}`;
const history: PromotionRecord[] = [
  { versionId: 'v3', promotedAt: t(240), expiresAt: t(720) },
  { versionId: 'v2', promotedAt: t(0), expiresAt: t(480) },
];

/** A port over an in-memory fleet that records every call. */
function fakePort(services: ServiceView[], tasks: Record<string, TaskView[]>, pageSize = 100) {
  const calls: string[] = [];
  const port: FleetPort = {
    async describeServices(cluster, arns) {
      calls.push(`DescribeServices ${cluster} ${arns.length}`);
      if (arns.length > 10) throw new Error('more than 10 services in one call');
      const found = services.filter((s) => arns.includes(s.serviceArn));
      return { services: found, missing: arns.filter((a) => !found.some((s) => s.serviceArn === a)) };
    },
    async listTasks(_cluster, name, nextToken) {
      calls.push(`ListTasks ${name}`);
      const all = (tasks[name] ?? []).map((x) => x.taskArn);
      const start = nextToken ? Number(nextToken) : 0;
      const next = start + pageSize < all.length ? String(start + pageSize) : undefined;
      return { taskArns: all.slice(start, start + pageSize), nextToken: next };
    },
    async describeTasks(_cluster, taskArns) {
      calls.push(`DescribeTasks ${taskArns.length}`);
      if (taskArns.length > 100) throw new Error('more than 100 tasks in one call');
      return Object.values(tasks)
        .flat()
        .filter((x) => taskArns.includes(x.taskArn));
    },
  };
  return { port, calls };
}

const service = (name: string, createdAts: Array<Date | undefined>, runningCount = 2, cluster = 'c1'): ServiceView => ({
  serviceArn: arn(cluster, name),
  status: 'ACTIVE',
  serviceName: name,
  runningCount,
  createdAts,
});

describe('surveyFleet', () => {
  test('steady state: one DescribeServices per 10 services, no task listed, every task on the current token', async () => {
    const services = Array.from({ length: 25 }, (_, i) => service(`s${i}`, [t(241)]));
    const { port, calls } = fakePort(services, {});
    const survey = await surveyFleet(
      port,
      services.map((s) => s.serviceArn),
      history,
    );
    expect(calls).toEqual(['DescribeServices c1 10', 'DescribeServices c1 10', 'DescribeServices c1 5']);
    expect(survey.calls).toBe(3);
    expect(survey.drilledDown).toBe(0);
    expect(survey.services.every((s) => s.state === 'current' && s.tasks.current === 2 && s.staleTasks === 0)).toBe(true);
    expect(survey.oldestExpiresAt).toEqual(t(720));
  });

  test('a service mid-rollout is drilled down: its tasks are counted by token and the oldest expiry is the fleet minimum', async () => {
    const rolling = service('rolling', [t(241), t(1)]);
    const { port, calls } = fakePort([rolling, service('done', [t(250)])], {
      rolling: [
        { taskArn: 'task/c1/a', createdAt: t(5) },
        { taskArn: 'task/c1/b', createdAt: t(245) },
        { taskArn: 'task/c1/c', createdAt: t(-10) },
      ],
    });
    const survey = await surveyFleet(port, [rolling.serviceArn, arn('c1', 'done')], history);
    expect(calls).toEqual(['DescribeServices c1 2', 'ListTasks rolling', 'DescribeTasks 3']);
    const r = survey.services.find((s) => s.serviceArn === rolling.serviceArn)!;
    expect(r).toMatchObject({ state: 'surveyed', tasks: { current: 1, previous: 1, older: 1 }, staleTasks: 2 });
    // The task created before every record holds an unknown token: counted as expired.
    expect(r.oldestExpiresAt).toBeNull();
    expect(survey.oldestExpiresAt).toBeNull();
  });

  test('with known tokens only, the fleet minimum is the oldest task token', async () => {
    const rolling = service('rolling', [t(1)]);
    const { port } = fakePort([rolling], { rolling: [{ taskArn: 'x', createdAt: t(5) }] });
    const survey = await surveyFleet(port, [rolling.serviceArn], history);
    expect(survey.services[0].oldestExpiresAt).toEqual(t(480));
    expect(survey.oldestExpiresAt).toEqual(t(480));
  });

  test('ListTasks pages and DescribeTasks batches of 100 are followed', async () => {
    const big = service('big', [t(1)], 250);
    const tasks = Array.from({ length: 250 }, (_, i) => ({ taskArn: `task/c1/${i}`, createdAt: t(i % 2 === 0 ? 5 : 300) }));
    const { port, calls } = fakePort([big], { big: tasks });
    const survey = await surveyFleet(port, [big.serviceArn], history);
    expect(calls.filter((c) => c.startsWith('ListTasks'))).toHaveLength(3);
    expect(calls.filter((c) => c.startsWith('DescribeTasks'))).toEqual(['DescribeTasks 100', 'DescribeTasks 100', 'DescribeTasks 50']);
    expect(survey.services[0].tasks).toEqual({ current: 125, previous: 125, older: 0 });
  });

  test("the tasks of every drilled-down service of a cluster are described together; one service's failed listing fails only it", async () => {
    const names = Array.from({ length: 12 }, (_, i) => `r${i}`);
    const services = names.map((n) => service(n, [t(241), t(1)], 3));
    const tasks = Object.fromEntries(
      names.map((n) => [n, [0, 1, 2].map((k) => ({ taskArn: `task/c1/${n}-${k}`, createdAt: t(k === 0 ? 5 : 300) }))]),
    );
    const { port, calls } = fakePort(services, tasks);
    const failing: FleetPort = {
      ...port,
      listTasks: async (cluster, name, next) => {
        if (name === 'r3') throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
        return port.listTasks(cluster, name, next);
      },
    };
    const survey = await surveyFleet(
      failing,
      services.map((s) => s.serviceArn),
      history,
    );
    // 2 DescribeServices, 12 ListTasks, and the 33 listed tasks in one DescribeTasks.
    expect(calls.filter((c) => c.startsWith('DescribeTasks'))).toEqual(['DescribeTasks 33']);
    expect(survey.calls).toBe(2 + 12 + 1);
    expect(survey.drilledDown).toBe(12);
    const byName = new Map(survey.services.map((s) => [s.serviceArn.split('/').pop(), s]));
    expect(byName.get('r3')).toMatchObject({ state: 'failed', error: 'AccessDeniedException: denied' });
    expect(byName.get('r0')).toMatchObject({ state: 'surveyed', tasks: { current: 2, previous: 1, older: 0 }, staleTasks: 1 });
  });

  test('services in several clusters are described per cluster; unknown, inactive and failing ones are reported, not fatal', async () => {
    const a = service('a', [t(241)], 1, 'c1');
    const b = { ...service('b', [t(241)], 0, 'c2'), status: 'INACTIVE' };
    const { port } = fakePort([a, b], {});
    const broken: FleetPort = {
      ...port,
      describeServices: async (cluster, arns) => {
        if (cluster === 'c3') throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
        return port.describeServices(cluster, arns);
      },
    };
    const survey = await surveyFleet(broken, [a.serviceArn, b.serviceArn, arn('c1', 'missing'), arn('c3', 'x'), 'not-an-arn'], history);
    const byArn = new Map(survey.services.map((s) => [s.serviceArn, s]));
    expect(byArn.get(a.serviceArn)?.state).toBe('current');
    expect(byArn.get(b.serviceArn)?.state).toBe('gone');
    expect(byArn.get(arn('c1', 'missing'))?.state).toBe('gone');
    expect(byArn.get(arn('c3', 'x'))).toMatchObject({ state: 'failed', error: 'ThrottlingException: Rate exceeded' });
    expect(byArn.get('not-an-arn')?.state).toBe('failed');
    expect(survey.calls).toBe(3);
  });

  test('no history (the placeholder): every service is drilled down, nothing is current', async () => {
    const s = service('s', [t(1)]);
    const { port } = fakePort([s], { s: [{ taskArn: 'x', createdAt: t(5) }] });
    const survey = await surveyFleet(port, [s.serviceArn], []);
    expect(survey.services[0]).toMatchObject({ state: 'surveyed', tasks: { older: 1 } });
  });
});
