import { App, NestedStack, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { DsqlUrlSecret } from '../../lib';
import { functionConfig } from './function-config';
import { LongestResolution } from './longest-resolution';
import { givenService, givenStack } from './stack-fixture';

const ENV = { account: '123456789012', region: 'eu-west-1' };

/** The bound-services parameters' names and longest resolved values, in order. */
/** The bound-services parameters (not the bound-functions ones, function-consumers.test.ts). */
function parameters(resolution: LongestResolution): Array<{ name: string; longest: number }> {
  return Object.values(resolution.resources)
    .filter((r) => r.Type === 'AWS::SSM::Parameter')
    .map((r) => ({ name: r.Properties!.Name as string, longest: resolution.length(r.Properties!.Value) }))
    .filter((p) => /\/bound-services(-\d+)?$/.test(p.name));
}

/** The inline policies on the rotation function's role, each at its longest (IAM does not count whitespace). */
function rotationRolePolicies(resolution: LongestResolution, roleId = /RotationFunctionServiceRole/): number[] {
  const role = Object.entries(resolution.resources).find(([id, r]) => r.Type === 'AWS::IAM::Role' && roleId.test(id))![0];
  return Object.values(resolution.resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties!.Roles ?? []).includes(`"${role}"`))
    .map((r) => JSON.stringify(resolution.substitute(r.Properties!.PolicyDocument)).length);
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('bound-services parameters are sized for the longest resolved ARN', () => {
  test('names CloudFormation generates count 255 characters: 7 services a parameter, each value within 4,096', () => {
    // GIVEN 61 services whose cluster and service names CloudFormation generates
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    for (let i = 0; i < 61; i++) db.redeployOnRotation(givenService(stack, ecsCluster, `S${i}`));

    // THEN
    const params = parameters(new LongestResolution(stack));
    expect(params.map((p) => p.name)).toEqual([
      expect.stringMatching(/\/bound-services$/),
      ...Array.from({ length: 8 }, (_, i) => expect.stringMatching(new RegExp(`/bound-services-${i + 2}$`))),
    ]);
    for (const p of params) expect(p.longest).toBeLessThanOrEqual(4096);
    // 7 a parameter: one more would not fit.
    const refs = Object.values(Template.fromStack(stack).findResources('AWS::SSM::Parameter'))
      .filter((p) => /\/bound-services(-\d+)?$/.test(p.Properties.Name))
      .map((p) => JSON.stringify(p.Properties.Value).match(/"Ref"/g)!.length);
    expect(refs).toEqual([7, 7, 7, 7, 7, 7, 7, 7, 5]);
    // Standard tier: free, and never the one-way upgrade to Advanced.
    const tiers = Object.values(Template.fromStack(stack).findResources('AWS::SSM::Parameter')).map((p) => p.Properties.Tier);
    expect(tiers.every((tier) => tier === undefined || tier === 'Standard')).toBe(true);
    // Known only once every service is bound: written lazily, a number in the JSON.
    expect(functionConfig(stack, 'DbRotationFunction').boundServicesParameterCount).toBe(9);
  });

  test('more than 500 services is an error', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    for (let i = 0; i < 501; i++) db.redeployOnRotation(givenService(stack, ecsCluster, `S${i}`));
    expect(() => Template.fromStack(stack)).toThrow(/at most 500 services can be bound to one DsqlUrlSecret, got 501/);
  });

  test('names known at synth count their own length: short names fill a parameter further', () => {
    const { stack, cluster } = givenStack();
    const vpc = ec2.Vpc.fromLookup(stack, 'Lookup', { vpcId: 'vpc-12345' });
    const named = new ecs.Cluster(stack, 'Named', { vpc, clusterName: 'prod' });
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    for (let i = 0; i < 61; i++) {
      const task = new ecs.FargateTaskDefinition(stack, `T${i}`);
      task.addContainer('app', { image: ecs.ContainerImage.fromRegistry('busybox') });
      db.redeployOnRotation(new ecs.FargateService(stack, `S${i}`, { cluster: named, taskDefinition: task, serviceName: `svc-${i}` }));
    }
    const params = parameters(new LongestResolution(stack));
    expect(params).toHaveLength(2);
    for (const p of params) expect(p.longest).toBeLessThanOrEqual(4096);
  });

  test('the function reads every parameter through one statement: <base> and <base>-*', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    for (let i = 0; i < 20; i++) db.redeployOnRotation(givenService(stack, ecsCluster, `S${i}`));
    const policies = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'));
    const reads = policies
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .filter((s: { Action: string | string[] }) => [s.Action].flat().includes('ssm:GetParameter'))
      .filter((s: { Resource: unknown }) => JSON.stringify(s.Resource).includes('/bound-services'));
    expect(reads).toHaveLength(1);
    const [base, rest] = reads[0].Resource.map((r: unknown) => JSON.stringify(r));
    expect(base).toMatch(/:ssm:eu-west-1:123456789012:parameter\/cdk-dsql-url-secret\/[^"*]+\/bound-services"/);
    expect(rest).toMatch(/:ssm:eu-west-1:123456789012:parameter\/cdk-dsql-url-secret\/[^"*]+\/bound-services-\*"/);
  });
});

describe('500 services with the names CloudFormation generates (nested stacks of the construct stack)', () => {
  test('every parameter value fits 4,096 characters and the rotation role inline policies fit 10,240, resolved at their longest', () => {
    // GIVEN 5 nested stacks, each with its own cluster and 100 services (a stack holds at most 500 resources)
    const app = new App();
    const stack = new Stack(app, 'Data', { env: ENV });
    const cluster = new dsql.CfnCluster(stack, 'Cluster', {});
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 });
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    const nested: NestedStack[] = [];
    for (let n = 0; n < 5; n++) {
      const services = new NestedStack(stack, `Services${n}`);
      nested.push(services);
      const ecsCluster = new ecs.Cluster(services, 'EcsCluster', { vpc });
      const task = new ecs.FargateTaskDefinition(services, 'Task');
      task.addContainer('app', { image: ecs.ContainerImage.fromRegistry('busybox'), secrets: { DATABASE_URL: db.ecsSecret() } });
      for (let i = 0; i < 100; i++) {
        db.redeployOnRotation(new ecs.FargateService(services, `S${i}`, { cluster: ecsCluster, taskDefinition: task }));
      }
    }

    // WHEN
    app.synth();
    const resolution = new LongestResolution(stack, nested);

    // THEN 72 parameters (7 ARNs of about 570 characters each), each within the Standard limit
    const params = parameters(resolution);
    expect(params).toHaveLength(Math.ceil(500 / 7));
    expect(Math.max(...params.map((p) => p.longest))).toBeLessThanOrEqual(4096);
    expect(functionConfig(stack, 'DbRotationFunction').boundServicesParameterCount).toBe(72);
    // AND the redeploy policy names the 5 clusters; all the role's inline policies together fit IAM's limit
    const policies = rotationRolePolicies(resolution);
    expect(sum(policies)).toBeLessThanOrEqual(10_240);
    // AND the watchdog's, which shares the redeploy policy and reads the tasks for its fleet check
    expect(sum(rotationRolePolicies(resolution, /WatchdogFunctionServiceRole/))).toBeLessThanOrEqual(10_240);
    const redeploy = Object.entries(resolution.resources).find(([id]) => /DbRedeployPolicy/.test(id))![1];
    const resources = (redeploy.Properties!.PolicyDocument as { Statement: Array<{ Resource: unknown[] }> }).Statement[0].Resource;
    expect(resources).toHaveLength(5);
    for (const r of resources) expect(JSON.stringify(r)).toMatch(/:ecs:eu-west-1:123456789012:service\/.*\/\*"\]\]\}$/);
    // AND every nested stack waits for the first rotation
    for (const n of nested) {
      const id = stack.resolve((n.nestedStackResource as unknown as { logicalId: string }).logicalId) as string;
      expect(resolution.resources[id]).toMatchObject({ DependsOn: expect.arrayContaining([expect.stringMatching(/DbInitialRotation/)]) });
    }
  }, 120_000);
});

describe('redeploy policy size', () => {
  test('per-service ARNs while they fit, whatever the count', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    for (let i = 0; i < 5; i++) db.redeployOnRotation(givenService(stack, ecsCluster, `S${i}`));
    const policy = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).find((p) =>
      /^redeploy-/.test(p.Properties.PolicyName),
    )!;
    expect(policy.Properties.PolicyDocument.Statement[0].Resource).toEqual(
      Array.from({ length: 5 }, (_, i) => ({ Ref: expect.stringMatching(new RegExp(`^S${i}Service`)) })),
    );
  });

  test('more clusters than the policy can name with generated names: an error naming the count and the fix', () => {
    const { stack, cluster } = givenStack();
    const vpc = ec2.Vpc.fromLookup(stack, 'Lookup', { vpcId: 'vpc-12345' });
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    for (let i = 0; i < 20; i++) db.redeployOnRotation(givenService(stack, new ecs.Cluster(stack, `C${i}`, { vpc }), `S${i}`));
    expect(() => Template.fromStack(stack)).toThrow(
      /redeployOnRotation: the 20 services bound to TestStack\/Db are in 20 ECS clusters; .* give the clusters names \(clusterName\), or bind their services to several DsqlUrlSecret constructs/,
    );
  });
});

describe('services in other stacks, accounts and regions', () => {
  function dataStack(app: App, env = ENV) {
    const stack = new Stack(app, 'Data', { env });
    const cluster = new dsql.CfnCluster(stack, 'Cluster', {});
    return { stack, cluster, db: new DsqlUrlSecret(stack, 'Db', { cluster }) };
  }
  function serviceIn(stack: Stack, secret?: ecs.Secret): ecs.FargateService {
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 });
    return givenService(stack, new ecs.Cluster(stack, 'EcsCluster', { vpc }), 'Api', secret);
  }

  test('a service in another stack of the same app is refused, naming the layout that works', () => {
    const app = new App();
    const { db } = dataStack(app);
    const api = serviceIn(new Stack(app, 'Api', { env: ENV }), db.ecsSecret());
    expect(() => db.redeployOnRotation(api)).toThrow(
      'redeployOnRotation: service Api/Api is in stack Api, but Data/Db is in stack Data. CloudFormation cannot order them: ' +
        "the service waits for the first rotation, and the construct's bound-services parameters and redeploy policy read " +
        "the service's ARN (a dependency cycle). Create the DsqlUrlSecret in Api (its cluster may stay in Data), or create " +
        'the service in Data or in a NestedStack of it.',
    );
  });

  test('the layout that works: the DsqlUrlSecret in the service stack, the cluster in the data stack', () => {
    const app = new App();
    const data = new Stack(app, 'Data', { env: ENV });
    const cluster = new dsql.CfnCluster(data, 'Cluster', {});
    const apiStack = new Stack(app, 'Api', { env: ENV });
    const db = new DsqlUrlSecret(apiStack, 'Db', { cluster });
    db.redeployOnRotation(serviceIn(apiStack, db.ecsSecret()));
    const assembly = app.synth(); // throws on a dependency cycle
    expect(assembly.getStackByName('Api').dependencies.map((d) => d.id)).toContain('Data');
    expect(assembly.getStackByName('Data').dependencies.map((d) => d.id)).not.toContain('Api');
  });

  test.each([
    ['region', { account: ENV.account, region: 'us-east-1' }, 'is in region us-east-1, but Data/Db is in region eu-west-1'],
    ['account', { account: '210987654321', region: ENV.region }, 'is in account 210987654321, but Data/Db is in account 123456789012'],
  ])('a service in another %s is refused before the stack check', (_what, env, message) => {
    const app = new App();
    const { db } = dataStack(app);
    const api = serviceIn(new Stack(app, 'Far', { env }));
    expect(() => db.redeployOnRotation(api)).toThrow(
      `redeployOnRotation: service Far/Api ${message}; its rotation function can redeploy services in its own region and ` +
        "account only. Create a DsqlUrlSecret in the service's region and account (with that region's cluster) and bind " +
        'the service to it.',
    );
  });

  test('an imported service whose ARN is in another region or account is refused', () => {
    const app = new App();
    const { stack, db } = dataStack(app);
    const far = ecs.FargateService.fromServiceArnWithCluster(stack, 'Far', 'arn:aws:ecs:us-east-1:123456789012:service/c/far');
    expect(() => db.redeployOnRotation(far)).toThrow(/service Data\/Far is in region us-east-1, but Data\/Db is in region eu-west-1/);
    const theirs = ecs.FargateService.fromServiceArnWithCluster(stack, 'Theirs', 'arn:aws:ecs:eu-west-1:210987654321:service/c/x');
    expect(() => db.redeployOnRotation(theirs)).toThrow(/is in account 210987654321, but Data\/Db is in account 123456789012/);
  });

  test('an imported service in the same region and account is bound (its ARN is known: exact length)', () => {
    const app = new App();
    const { stack, db } = dataStack(app);
    db.redeployOnRotation(ecs.FargateService.fromServiceArnWithCluster(stack, 'Mine', 'arn:aws:ecs:eu-west-1:123456789012:service/c/mine'));
    const param = Object.values(Template.fromStack(stack).findResources('AWS::SSM::Parameter'))[0];
    expect(param.Properties.Value).toBe('["arn:aws:ecs:eu-west-1:123456789012:service/c/mine"]');
  });

  test('a service in a nested stack of the construct stack deploys after the first rotation, without a cycle', () => {
    const app = new App();
    const { stack, db } = dataStack(app);
    const nested = new NestedStack(stack, 'Services');
    db.redeployOnRotation(serviceIn(nested, db.ecsSecret()));
    app.synth();
    const t = Template.fromStack(stack);
    const nestedResource = Object.values(t.findResources('AWS::CloudFormation::Stack'))[0];
    expect(nestedResource.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/DbInitialRotation/)]));
    const param = Object.values(t.findResources('AWS::SSM::Parameter'))[0];
    expect(JSON.stringify(param.Properties.Value)).toMatch(/Fn::GetAtt.*Services.*Outputs\./);
  });

  test('the construct in a nested stack and the service in its parent is refused', () => {
    const app = new App();
    const parent = new Stack(app, 'Parent', { env: ENV });
    const inner = new NestedStack(parent, 'Inner');
    const db = new DsqlUrlSecret(inner, 'Db', { cluster: new dsql.CfnCluster(inner, 'Cluster', {}) });
    expect(() => db.redeployOnRotation(serviceIn(parent))).toThrow(/is in stack Parent, but Parent\/Inner\/Db is in stack Parent\/Inner/);
  });
});
