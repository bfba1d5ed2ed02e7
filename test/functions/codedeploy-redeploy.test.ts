import 'aws-sdk-client-mock-jest';
import {
  CodeDeployClient,
  CreateDeploymentCommand,
  CreateDeploymentCommandInput,
  ListDeploymentsCommand,
} from '@aws-sdk/client-codedeploy';
import { ECSClient, Service, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { appSpecContent, codeDeployRedeploy } from '../../functions/codedeploy-redeploy';
import { redeployServices } from '../../functions/redeploy';
import { CodeDeployTarget } from '../../lib/contract';
import { awsError, recordingRetry, serviceArn, throttling } from './fixtures';
import { activeService, FakeEcs } from './fixtures-ecs';

const ecsMock = mockClient(ECSClient);
const cdMock = mockClient(CodeDeployClient);
const ecs = new ECSClient({ region: 'us-east-1' });
const codedeploy = new CodeDeployClient({ region: 'us-east-1' });

const PROMOTED_AT = new Date('2030-06-01T12:00:00.000Z');
const WEB = serviceArn('main', 'web');
const API = serviceArn('main', 'api');
const WEB_TARGET: CodeDeployTarget = { application: 'shop', deploymentGroup: 'web-bg' };
const TD_1 = 'arn:aws:ecs:us-east-1:123456789012:task-definition/web:1';
const TD_2 = 'arn:aws:ecs:us-east-1:123456789012:task-definition/web:2';
const BLUE_TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/1';

/** A CODE_DEPLOY service as DescribeServices shows it: the PRIMARY task set serves, the service-level task definition may be older. */
function codeDeployService(arn: string, extra: Partial<Service> = {}): Service {
  return {
    ...activeService(arn, []),
    deploymentController: { type: 'CODE_DEPLOY' },
    taskDefinition: TD_1,
    loadBalancers: [{ targetGroupArn: BLUE_TG, containerName: 'app', containerPort: 8080 }],
    taskSets: [
      { id: 'ecs-svc/old', status: 'ACTIVE', taskDefinition: TD_1 },
      {
        id: 'ecs-svc/primary',
        status: 'PRIMARY',
        taskDefinition: TD_2,
        platformVersion: '1.4.0',
        loadBalancers: [{ targetGroupArn: BLUE_TG, containerName: 'web', containerPort: 80 }],
        networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'], securityGroups: ['sg-1'], assignPublicIp: 'DISABLED' } },
      },
    ],
    ...extra,
  };
}

function givenEcs(...services: Service[]): FakeEcs {
  const fake = new FakeEcs();
  for (const s of services) fake.services.set(s.serviceArn!, s);
  fake.install(ecsMock);
  return fake;
}

const options = (retry = recordingRetry(), targets = new Map([[WEB, WEB_TARGET]])) => ({
  promotedAt: PROMOTED_AT,
  concurrency: 5,
  retry,
  codeDeploy: codeDeployRedeploy(codedeploy, targets, retry),
});

const createdContent = (): unknown =>
  JSON.parse(
    (cdMock.commandCalls(CreateDeploymentCommand)[0].args[0].input as CreateDeploymentCommandInput).revision!.appSpecContent!.content!,
  );

beforeEach(() => {
  ecsMock.reset();
  cdMock.reset();
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());
afterAll(() => {
  ecsMock.restore();
  cdMock.restore();
});

describe('a CODE_DEPLOY service gets a CodeDeploy deployment, never UpdateService', () => {
  test("of the PRIMARY task set's task definition, container, port and network settings, in the bound group", async () => {
    givenEcs(codeDeployService(WEB), activeService(API));
    cdMock.on(ListDeploymentsCommand).resolves({ deployments: [] });
    cdMock.on(CreateDeploymentCommand).resolves({ deploymentId: 'd-NEW' });

    const report = await redeployServices(ecs, [WEB, API], options());

    expect(report.redeployed.sort()).toEqual([API, WEB].sort());
    expect(report.failed).toEqual([]);
    // The ECS service is forced as before; the CODE_DEPLOY one is never sent to UpdateService (ECS refuses it).
    expect(ecsMock.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input.service)).toEqual([API]);
    expect(cdMock).toHaveReceivedCommandWith(CreateDeploymentCommand, {
      applicationName: 'shop',
      deploymentGroupName: 'web-bg',
      revision: expect.objectContaining({ revisionType: 'AppSpecContent' }),
    });
    expect(createdContent()).toEqual({
      version: 0,
      Resources: [
        {
          TargetService: {
            Type: 'AWS::ECS::Service',
            Properties: {
              TaskDefinition: TD_2,
              LoadBalancerInfo: { ContainerName: 'web', ContainerPort: 80 },
              PlatformVersion: '1.4.0',
              NetworkConfiguration: {
                AwsvpcConfiguration: { Subnets: ['subnet-1'], SecurityGroups: ['sg-1'], AssignPublicIp: 'DISABLED' },
              },
            },
          },
        },
      ],
    });
  });

  test("without task sets listed, the service's own task definition and load balancer; version written as 0.0", () => {
    const content = appSpecContent(codeDeployService(WEB, { taskSets: [] }));

    expect(content.startsWith('{"version":0.0,')).toBe(true);
    expect(JSON.parse(content).Resources[0].TargetService.Properties).toEqual({
      TaskDefinition: TD_1,
      LoadBalancerInfo: { ContainerName: 'app', ContainerPort: 8080 },
    });
  });

  test('the idempotency check: a deployment created at or after the promotion means already current, nothing created', async () => {
    givenEcs(codeDeployService(WEB));
    cdMock.on(ListDeploymentsCommand).resolves({ deployments: ['d-EARLIER-ATTEMPT'] });

    const report = await redeployServices(ecs, [WEB], options());

    expect(report).toMatchObject({ redeployed: [], alreadyCurrent: [WEB], failed: [] });
    expect(cdMock).toHaveReceivedCommandTimes(CreateDeploymentCommand, 0);
    expect(cdMock).toHaveReceivedCommandWith(ListDeploymentsCommand, {
      applicationName: 'shop',
      deploymentGroupName: 'web-bg',
      createTimeRange: { start: PROMOTED_AT },
      includeOnlyStatuses: ['Created', 'Queued', 'InProgress', 'Baking', 'Ready', 'Succeeded'],
    });
  });

  test('a retry after the deployment was created: the second attempt finds it and creates none', async () => {
    givenEcs(codeDeployService(WEB));
    const created: string[] = [];
    cdMock.on(ListDeploymentsCommand).callsFake(() => ({ deployments: [...created] }));
    cdMock.on(CreateDeploymentCommand).callsFake(() => {
      created.push(`d-${created.length + 1}`);
      return { deploymentId: created[created.length - 1] };
    });

    const first = await redeployServices(ecs, [WEB], options());
    const second = await redeployServices(ecs, [WEB], options());

    expect(first.redeployed).toEqual([WEB]);
    expect(second).toMatchObject({ redeployed: [], alreadyCurrent: [WEB] });
    expect(created).toEqual(['d-1']);
  });

  test('throttled CodeDeploy calls are retried with backoff and counted', async () => {
    givenEcs(codeDeployService(WEB));
    cdMock.on(ListDeploymentsCommand).rejectsOnce(throttling()).resolves({ deployments: [] });
    cdMock.on(CreateDeploymentCommand).rejectsOnce(throttling()).rejectsOnce(throttling()).resolves({ deploymentId: 'd-NEW' });
    const retry = recordingRetry();

    const report = await redeployServices(ecs, [WEB], options(retry));

    expect(report).toMatchObject({ redeployed: [WEB], failed: [], throttleRetries: 3 });
    expect(cdMock).toHaveReceivedCommandTimes(CreateDeploymentCommand, 3);
    expect(retry.sleeps).toHaveLength(3);
  });

  test('another deployment active: failed, naming the service, the group and the active deployment; a retry redeploys it', async () => {
    givenEcs(codeDeployService(WEB));
    cdMock.on(ListDeploymentsCommand, { createTimeRange: { start: PROMOTED_AT } }).resolves({ deployments: [] });
    cdMock.on(ListDeploymentsCommand, { includeOnlyStatuses: ['Created', 'Queued', 'InProgress', 'Baking', 'Ready'] }).resolves({
      deployments: ['d-ACTIVE'],
    });
    cdMock
      .on(CreateDeploymentCommand)
      .rejects(awsError('DeploymentLimitExceededException', 'The Deployment Group web-bg already has an active Deployment d-ACTIVE'));

    const report = await redeployServices(ecs, [WEB], options());

    expect(report.redeployed).toEqual([]);
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0].serviceArn).toBe(WEB);
    expect(report.failed[0].message).toMatch(
      /^DeploymentLimitExceededException: CodeDeploy refused a new deployment of shop\/web-bg: deployment d-ACTIVE is still active/,
    );
    expect(report.failed[0].message).toContain("A retry of finishSecret starts this service's deployment once it has ended.");
  });

  test('other CodeDeploy errors fail the service naming the group', async () => {
    givenEcs(codeDeployService(WEB));
    cdMock.on(ListDeploymentsCommand).resolves({ deployments: [] });
    cdMock.on(CreateDeploymentCommand).rejects(awsError('DeploymentGroupDoesNotExistException', 'No deployment group found'));

    const report = await redeployServices(ecs, [WEB], options());

    expect(report.failed).toEqual([
      { serviceArn: WEB, message: 'DeploymentGroupDoesNotExistException: CodeDeploy shop/web-bg: No deployment group found' },
    ]);
  });

  test('no load balancer with a container and port: failed, naming LoadBalancerInfo, nothing created', async () => {
    givenEcs(codeDeployService(WEB, { loadBalancers: [], taskSets: [] }));
    cdMock.on(ListDeploymentsCommand).resolves({ deployments: [] });

    const report = await redeployServices(ecs, [WEB], options());

    expect(report.failed[0].message).toMatch(/CodeDeploy shop\/web-bg: ECS reports no load balancer .* \(LoadBalancerInfo\)/);
    expect(cdMock).toHaveReceivedCommandTimes(CreateDeploymentCommand, 0);
  });
});

describe('a controller nothing here can serve fails loudly, naming the service, its controller and the fix', () => {
  test('CODE_DEPLOY without a bound deployment group (an imported service), and EXTERNAL; the ECS service is still redeployed', async () => {
    const imported = serviceArn('main', 'imported');
    const external = serviceArn('main', 'external');
    givenEcs(codeDeployService(imported), { ...activeService(external), deploymentController: { type: 'EXTERNAL' } }, activeService(API));

    const report = await redeployServices(ecs, [imported, external, API], options());

    expect(report.redeployed).toEqual([API]);
    expect(report.failed.map((f) => f.serviceArn)).toEqual([imported, external]);
    expect(report.failed[0].message).toMatch(/CODE_DEPLOY deployment controller, which refuses forceNewDeployment/);
    expect(report.failed[0].message).toContain('redeployOnRotation(service, { codeDeployDeploymentGroup })');
    expect(report.failed[1].message).toMatch(/EXTERNAL deployment controller: its task sets are managed outside ECS and CodeDeploy/);
    expect(report.failed[1].message).toContain('EXTERNAL services cannot be bound');
    expect(ecsMock.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input.service)).toEqual([API]);
    expect(cdMock).toHaveReceivedCommandTimes(CreateDeploymentCommand, 0);
  });

  test('without a CodeDeploy path at all (a caller that passes none) a CODE_DEPLOY service fails the same way', async () => {
    givenEcs(codeDeployService(WEB));

    const report = await redeployServices(ecs, [WEB], { promotedAt: PROMOTED_AT, concurrency: 5, retry: recordingRetry() });

    expect(report.failed).toEqual([{ serviceArn: WEB, message: expect.stringContaining('codeDeployDeploymentGroup') }]);
    expect(ecsMock).toHaveReceivedCommandTimes(UpdateServiceCommand, 0);
  });

  test('a deployment group bound for a service whose controller is now ECS: the actual controller decides (UpdateService)', async () => {
    givenEcs(activeService(WEB));

    const report = await redeployServices(ecs, [WEB], options());

    expect(report.redeployed).toEqual([WEB]);
    expect(ecsMock).toHaveReceivedCommandTimes(UpdateServiceCommand, 1);
    expect(cdMock).toHaveReceivedCommandTimes(ListDeploymentsCommand, 0);
  });
});
