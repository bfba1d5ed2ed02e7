import { CodeDeployClient, DeploymentInfo, GetDeploymentCommand, ListDeploymentsCommand } from '@aws-sdk/client-codedeploy';
import { DescribeServicesCommand, TaskSet } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { ExitCode } from '../../cli/errors';
import { createReporter } from '../../cli/render';
import { RotateOptions, runRotate } from '../../cli/rotate';
import { Capture, FakeAws, fakeTime, NEW_VERSION, SECRET_ARN, serviceArn, testClients } from './fixtures';

const aws = new FakeAws();
const cdMock = mockClient(CodeDeployClient);
afterAll(() => {
  aws.restore();
  cdMock.restore();
});

const WEB = serviceArn('main', 'web');
const API = serviceArn('main', 'api');
const TARGET = { application: 'shop', deploymentGroup: 'web-bg' };

/** The group's deployments, as CodeDeploy lists and describes them. */
let deployments: DeploymentInfo[];
/** WEB's task sets, as ECS describes them: CodeDeploy starts a replacement task set for each deployment. */
let taskSets: TaskSet[];

beforeEach(() => {
  aws.reset([WEB, API]);
  // The bound-services parameter as lib/bound-services.ts writes a service bound with its deployment group.
  aws.state.parameter = JSON.stringify([{ service: WEB, codeDeploy: TARGET }, API]);
  // A CODE_DEPLOY service lists no ECS deployment of its own: its task sets change with CodeDeploy's deployments.
  aws.state.services.get(WEB)!.deployments = [];
  deployments = [];
  taskSets = [{ id: 'ecs-svc/blue', status: 'PRIMARY', runningCount: 2, computedDesiredCount: 2, createdAt: new Date(0) }];
  // FakeAws's DescribeServices, with WEB's task sets.
  aws.ecs.on(DescribeServicesCommand).callsFake((input: { services: string[] }) => ({
    services: input.services.map((arn) => ({
      serviceArn: arn,
      serviceName: arn.split('/').pop(),
      status: 'ACTIVE',
      deployments: structuredClone(aws.state.services.get(arn)!.deployments),
      ...(arn === WEB ? { deploymentController: { type: 'CODE_DEPLOY' }, taskSets: structuredClone(taskSets) } : {}),
    })),
    failures: [],
  }));
  cdMock.reset();
  cdMock.on(ListDeploymentsCommand).callsFake((input) => {
    if (input.applicationName !== TARGET.application || input.deploymentGroupName !== TARGET.deploymentGroup)
      throw new Error('wrong group');
    const start = (input.createTimeRange?.start as Date | undefined)?.getTime() ?? 0;
    return { deployments: deployments.filter((d) => d.createTime!.getTime() >= start).map((d) => d.deploymentId!) };
  });
  cdMock.on(GetDeploymentCommand).callsFake((input) => ({
    deploymentInfo: structuredClone(deployments.find((d) => d.deploymentId === input.deploymentId)),
  }));
});

const status = (id: string, s: string, error?: string) => {
  const d = deployments.find((x) => x.deploymentId === id)!;
  d.status = s as DeploymentInfo['status'];
  if (error) d.errorInformation = { code: 'HEALTH_CONSTRAINTS', message: error };
};

async function rotate(script: (now: number, polls: number) => void, over: Partial<RotateOptions> = {}) {
  const time = fakeTime(script);
  const stdout = new Capture();
  // Outcomes other than success go to stderr: one stream here, in order.
  const reporter = createReporter({ stdout, stderr: stdout, live: false, now: time.now });
  const opts = { secretId: SECRET_ARN, wait: true, timeoutMs: 30 * 60_000, intervalMs: 5_000, ...over };
  const code = await runRotate(opts, { clients: testClients(), reporter, now: time.now, sleep: time.sleep });
  const lines = stdout.text
    .trim()
    .split('\n')
    .map((l) => l.replace(/^\S+ /, ''));
  return { code, lines };
}

test('follows the CodeDeploy deployment of a CODE_DEPLOY service with the same progress lines as an ECS rollout', async () => {
  let promotedAt = 0;
  const r = await rotate((now, polls) => {
    if (polls === 1) {
      promotedAt = now - 1_000;
      aws.promote(promotedAt);
      aws.redeploy(API, 'ecs-svc/new-api', now - 500);
      // A release deployment from before the promotion: not the rotation's.
      deployments.push({ deploymentId: 'd-RELEASE', status: 'Succeeded', createTime: new Date(promotedAt - 60_000) });
    }
    if (polls === 2) {
      deployments.push({ deploymentId: 'd-ROTATION', status: 'InProgress', createTime: new Date(now - 500) });
      taskSets.push({ id: 'ecs-svc/green', status: 'ACTIVE', runningCount: 0, computedDesiredCount: 2, createdAt: new Date(now - 400) });
    }
    if (polls === 3) {
      aws.complete(API);
      taskSets[1].runningCount = 2;
    }
    if (polls === 4) {
      status('d-ROTATION', 'Succeeded');
      taskSets = [{ ...taskSets[1], status: 'PRIMARY' }];
    }
  });

  expect(r.code).toBe(ExitCode.OK);
  expect(r.lines).toEqual(
    expect.arrayContaining([
      'service main/api: deployment ecs-svc/new-api IN_PROGRESS 0/2',
      'service main/web: deployment d-ROTATION IN_PROGRESS 0/2',
      'service main/api: deployment ecs-svc/new-api COMPLETED 2/2',
      'service main/web: deployment d-ROTATION IN_PROGRESS 2/2',
      'service main/web: deployment d-ROTATION COMPLETED 2/2',
    ]),
  );
  const web = r.lines.filter((l) => l.startsWith('service main/web:'));
  expect(web).toEqual([
    'service main/web: deployment d-ROTATION IN_PROGRESS 0/2',
    'service main/web: deployment d-ROTATION IN_PROGRESS 2/2',
    'service main/web: deployment d-ROTATION COMPLETED 2/2',
  ]);
  expect(r.lines.join('\n')).not.toContain('d-RELEASE');
  expect(r.lines[r.lines.length - 1]).toMatch(
    /^Done in 20s: version 22222222 is AWSCURRENT .*; 2 of 2 bound services completed a new deployment\.$/,
  );
  // Deployments are looked for from the promotion on, as the rotation function counts them.
  const starts = cdMock.commandCalls(ListDeploymentsCommand).map((c) => (c.args[0].input.createTimeRange?.start as Date).getTime());
  expect(new Set(starts)).toEqual(new Set([promotedAt]));
});

test('a failed CodeDeploy deployment fails the wait with its reason and the CodeDeploy way to deploy again', async () => {
  const r = await rotate((now, polls) => {
    if (polls === 1) {
      aws.promote(now - 1_000);
      aws.redeploy(API, 'ecs-svc/new-api', now - 500);
      aws.complete(API);
      deployments.push({ deploymentId: 'd-ROTATION', status: 'InProgress', createTime: new Date(now - 500) });
    }
    if (polls === 2) status('d-ROTATION', 'Failed', 'The ECS service cannot reach a steady state');
  });

  expect(r.code).toBe(ExitCode.FAILED);
  const last = r.lines[r.lines.length - 1];
  expect(last).toContain(
    'Deployment FAILED: main/web (CodeDeploy deployment Failed: The ECS service cannot reach a steady state). Version 22222222 is AWSCURRENT',
  );
  expect(last).toContain(
    'start a new CodeDeploy deployment in shop/web-bg (aws deploy create-deployment --application-name shop --deployment-group-name web-bg',
  );
  expect(last).not.toContain('force-new-deployment');
});

test('a CodeDeploy deployment still in progress counts in the time budget: the wait times out naming it', async () => {
  const r = await rotate(
    (now, polls) => {
      if (polls === 1) {
        aws.promote(now - 1_000);
        aws.redeploy(API, 'ecs-svc/new-api', now - 500);
        aws.complete(API);
        deployments.push({ deploymentId: 'd-ROTATION', status: 'InProgress', createTime: new Date(now - 500) });
      }
    },
    { timeoutMs: 60_000 },
  );

  expect(r.code).toBe(ExitCode.TIMEOUT);
  expect(r.lines[r.lines.length - 1]).toMatch(
    /^Timed out after 1m: version 22222222 is AWSCURRENT, but 1 still rolling out \(main\/web \?\/\?\)/,
  );
  expect(aws.state.stages[NEW_VERSION]).toContain('AWSCURRENT');
});

test('no CodeDeploy deployment since the promotion yet: the service waits, and a plain-ECS secret never calls CodeDeploy', async () => {
  const r = await rotate(
    (now, polls) => {
      if (polls === 1) aws.promote(now - 1_000);
    },
    { timeoutMs: 20_000 },
  );
  expect(r.code).toBe(ExitCode.TIMEOUT);
  expect(r.lines[r.lines.length - 1]).toContain('without a new deployment yet (main/web, main/api;');

  aws.reset([API]);
  cdMock.resetHistory();
  const plain = await rotate((now, polls) => {
    if (polls === 1) {
      aws.promote(now - 1_000);
      aws.redeploy(API, 'ecs-svc/new-api', now - 500);
      aws.complete(API);
    }
  });
  expect(plain.code).toBe(ExitCode.OK);
  expect(cdMock.calls()).toHaveLength(0);
});
