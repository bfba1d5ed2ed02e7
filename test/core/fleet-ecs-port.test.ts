import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { ecsFleetPort } from '../../core/fleet-ecs-port';

const ecs = mockClient(ECSClient);
const arn = (name: string) => `arn:aws:ecs:eu-west-1:123456789012:service/c1/${name}`;

beforeEach(() => ecs.reset());

test('DescribeServices: deployments for the ECS controller, task sets for CODE_DEPLOY, unknown ARNs missing', async () => {
  ecs.on(DescribeServicesCommand).resolves({
    services: [
      { serviceArn: arn('a'), status: 'ACTIVE', serviceName: 'a', runningCount: 2, deployments: [{ createdAt: new Date(1000) }] },
      {
        serviceArn: arn('b'),
        status: 'ACTIVE',
        deploymentController: { type: 'CODE_DEPLOY' },
        taskSets: [{ createdAt: new Date(2000) }, { createdAt: new Date(3000) }],
      },
      { serviceArn: arn('c'), status: 'ACTIVE', deployments: [] },
    ],
    failures: [{ arn: arn('gone'), reason: 'MISSING' }],
  });
  const out = await ecsFleetPort(new ECSClient({})).describeServices('c1', [arn('a'), arn('b'), arn('c'), arn('gone')]);
  expect(ecs.commandCalls(DescribeServicesCommand)[0].args[0].input).toEqual({
    cluster: 'c1',
    services: [arn('a'), arn('b'), arn('c'), arn('gone')],
  });
  expect(out.missing).toEqual([arn('gone')]);
  expect(out.services.map((s) => [s.deploymentController, s.createdAts.map((d) => d?.getTime())])).toEqual([
    ['ECS', [1000]],
    ['CODE_DEPLOY', [2000, 3000]],
    // Nothing listed: unknown ages, so the survey lists its tasks.
    ['ECS', [undefined]],
  ]);
});

test('ListTasks asks for running tasks of the service; DescribeTasks leaves out tasks that stopped meanwhile', async () => {
  ecs.on(ListTasksCommand).resolves({ taskArns: ['t1', 't2'], nextToken: 'n' });
  ecs.on(DescribeTasksCommand).resolves({
    tasks: [
      { taskArn: 't1', lastStatus: 'RUNNING', createdAt: new Date(5000) },
      { taskArn: 't2', lastStatus: 'STOPPED', createdAt: new Date(6000) },
    ],
  });
  const port = ecsFleetPort(new ECSClient({}));
  expect(await port.listTasks('c1', 'a', 'p')).toEqual({ taskArns: ['t1', 't2'], nextToken: 'n' });
  expect(ecs.commandCalls(ListTasksCommand)[0].args[0].input).toEqual({
    cluster: 'c1',
    serviceName: 'a',
    desiredStatus: 'RUNNING',
    nextToken: 'p',
  });
  expect(await port.describeTasks('c1', ['t1', 't2'])).toEqual([{ taskArn: 't1', createdAt: new Date(5000) }]);
});

test('every call goes through the wrapper (the watchdog retries throttling there)', async () => {
  ecs.on(ListTasksCommand).resolves({ taskArns: [] });
  let wrapped = 0;
  const port = ecsFleetPort(new ECSClient({}), (call) => {
    wrapped++;
    return call();
  });
  await port.listTasks('c1', 'a');
  expect(wrapped).toBe(1);
});
