import { App, Duration, Stack } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as ecsPatterns from 'aws-cdk-lib/aws-ecs-patterns';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { DsqlUrlSecret, TokenSigner } from '../../lib';
import { givenService, givenStack } from './stack-fixture';

const IMAGE = ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest');
const ENV = { account: '123456789012', region: 'eu-west-1' };

/** A task definition with one container 'app' that gets `secrets` and `environment`. */
function taskWith(scope: Stack, id: string, container: Pick<ecs.ContainerDefinitionOptions, 'secrets' | 'environment'>) {
  const taskDefinition = new ecs.FargateTaskDefinition(scope, id);
  taskDefinition.addContainer('app', { image: IMAGE, ...container });
  return taskDefinition;
}

function serviceOf(stack: Stack, ecsCluster: ecs.ICluster, id: string, taskDefinition: ecs.TaskDefinition) {
  return new ecs.FargateService(stack, id, { cluster: ecsCluster, taskDefinition, minHealthyPercent: 100 });
}

function nightly(stack: Stack, ecsCluster: ecs.ICluster, secret: ecs.Secret) {
  return new ecsPatterns.ScheduledFargateTask(stack, 'Nightly', {
    cluster: ecsCluster,
    schedule: appscaling.Schedule.rate(Duration.days(1)),
    // The fixture's VPC has no NAT.
    subnetSelection: { subnetType: ec2.SubnetType.PUBLIC },
    scheduledFargateTaskImageOptions: { image: IMAGE, secrets: { DATABASE_URL: secret } },
  });
}

const BOTH_FIXES = /Bind each service with redeployOnRotation\(service\).*addStandaloneTask\(taskDefinition, \{ maxRunTime \}\) instead/;

describe('consumer discovery: every task definition that injects the secret is accounted for', () => {
  test('a bound FargateService passes, and a synth runs the check', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    db.redeployOnRotation(givenService(stack, ecsCluster, 'Api', db.ecsSecret()));
    expect(db.node.validate()).toEqual([]);
    expect(() => (stack.node.root as App).synth()).not.toThrow();
  });

  test('a service that is not bound is refused at synth, naming the task definition, the service and both fixes', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    givenService(stack, ecsCluster, 'Api', db.ecsSecret());
    const errors = db.node.validate();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(
      "task definition TestStack/ApiTask injects this secret (container 'app' (TestStack/ApiTask/app)) and is used by TestStack/Api, " +
        'not bound with redeployOnRotation: its tasks would keep the token they read at start until it expires.',
    );
    expect(errors[0]).toMatch(BOTH_FIXES);
    // Wired into synth: the app does not synthesize.
    expect(() => (stack.node.root as App).synth()).toThrow(/\[TestStack\/Db\] task definition TestStack\/ApiTask injects this secret/);
  });

  test('every service running the task definition must be bound, not just one', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    const task = taskWith(stack, 'Shared', { secrets: { DATABASE_URL: db.ecsSecret() } });
    db.redeployOnRotation(serviceOf(stack, ecsCluster, 'Blue', task));
    serviceOf(stack, ecsCluster, 'Green', task);
    expect(db.node.validate()).toEqual([expect.stringMatching(/TestStack\/Shared .* is used by TestStack\/Green, not bound/)]);
  });

  test('a task definition that no service uses and that is not declared is refused', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    taskWith(stack, 'Orphan', { secrets: { DATABASE_URL: db.ecsSecret('password') } });
    const errors = db.node.validate();
    expect(errors).toEqual([
      expect.stringMatching(
        /^task definition TestStack\/Orphan injects this secret .*, but no service in the app uses it and it is not declared/,
      ),
    ]);
    expect(errors[0]).toMatch(BOTH_FIXES);
  });

  test.each([
    ['bound', true],
    ['not bound', false],
  ])('ecs_patterns.ApplicationLoadBalancedFargateService with taskImageOptions.secrets, %s', (_what, bind) => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    const web = new ecsPatterns.ApplicationLoadBalancedFargateService(stack, 'Web', {
      cluster: ecsCluster,
      minHealthyPercent: 100,
      taskImageOptions: { image: IMAGE, secrets: { DATABASE_URL: db.ecsSecret() } },
    });
    if (bind) db.redeployOnRotation(web.service);
    expect(db.node.validate()).toEqual(
      bind ? [] : [expect.stringMatching(/^task definition TestStack\/Web\/TaskDef injects .* used by TestStack\/Web\/Service, not bound/)],
    );
  });

  test('ecs_patterns.ScheduledFargateTask passes when declared standalone, and is refused when not', () => {
    const declared = givenStack();
    const db = new DsqlUrlSecret(declared.stack, 'Db', { cluster: declared.cluster, signer: TokenSigner.managedAccessKey() });
    db.addStandaloneTask(nightly(declared.stack, declared.ecsCluster, db.ecsSecret()).taskDefinition, { maxRunTime: Duration.minutes(20) });
    expect(db.node.validate()).toEqual([]);

    const undeclared = givenStack();
    const other = new DsqlUrlSecret(undeclared.stack, 'Db', { cluster: undeclared.cluster, signer: TokenSigner.managedAccessKey() });
    nightly(undeclared.stack, undeclared.ecsCluster, other.ecsSecret());
    expect(other.node.validate()).toEqual([
      expect.stringMatching(/^task definition TestStack\/Nightly\/ScheduledTaskDef injects .* no service/),
    ]);
  });

  test('a raw ecs.Secret.fromSecretsManager(db.secret, ...) is found like ecsSecret(), with or without a field', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    taskWith(stack, 'Field', { secrets: { DATABASE_URL: ecs.Secret.fromSecretsManager(db.secret, 'url') } });
    taskWith(stack, 'Whole', { secrets: { DB: ecs.Secret.fromSecretsManager(db.secret) } });
    const imported = secretsmanager.Secret.fromSecretCompleteArn(stack, 'Imported', db.secret.secretArn);
    taskWith(stack, 'Reimported', { secrets: { DB: ecs.Secret.fromSecretsManager(imported, 'host') } });
    expect(db.node.validate().map((e) => e.split(' injects')[0])).toEqual([
      'task definition TestStack/Field',
      'task definition TestStack/Whole',
      'task definition TestStack/Reimported',
    ]);
  });

  test.each([
    ['version stage AWSPREVIOUS', { versionStage: 'AWSPREVIOUS' }],
    ['version stage AWSPENDING', { versionStage: 'AWSPENDING' }],
    ['version id 0123abcd-version', { versionId: '0123abcd-version' }],
  ])('fromSecretsManagerVersion pinned to %s is refused, naming the container, even in a bound service', (what, version) => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    const task = taskWith(stack, 'Pinned', { secrets: { DATABASE_URL: ecs.Secret.fromSecretsManagerVersion(db.secret, version, 'url') } });
    db.redeployOnRotation(serviceOf(stack, ecsCluster, 'Api', task));
    expect(db.node.validate()).toEqual([
      `container 'app' (TestStack/Pinned/app) reads this secret at ${what} (variable DATABASE_URL): only AWSCURRENT is kept valid, ` +
        "an older version's token expires and no rotation replaces it. Inject it with ecsSecret(field), which reads AWSCURRENT",
    ]);
  });

  test('fromSecretsManagerVersion at AWSCURRENT is what ecsSecret() reads: accepted when bound', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    const current = ecs.Secret.fromSecretsManagerVersion(db.secret, { versionStage: 'AWSCURRENT' }, 'url');
    db.redeployOnRotation(serviceOf(stack, ecsCluster, 'Api', taskWith(stack, 'Current', { secrets: { DATABASE_URL: current } })));
    expect(db.node.validate()).toEqual([]);
  });

  test('the URL in the plaintext environment (a dynamic reference) is refused, naming the container and variable', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    const task = taskWith(stack, 'Plain', { environment: { DATABASE_URL: db.secret.secretValueFromJson('url').unsafeUnwrap() } });
    db.redeployOnRotation(serviceOf(stack, ecsCluster, 'Api', task));
    const errors = db.node.validate();
    expect(errors).toEqual([
      expect.stringMatching(
        /^container 'app' \(TestStack\/Plain\/app\) has this secret's value in its plaintext environment \(variable DATABASE_URL/,
      ),
    ]);
    expect(errors[0]).toContain("Use secrets: { DATABASE_URL: ecsSecret('url') } instead");
  });

  test("the secret's ARN in the environment (the app reads the secret itself, always AWSCURRENT) is not refused", () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    const task = taskWith(stack, 'Reader', { environment: { SECRET_ARN: db.secret.secretArn, MODE: 'literal' } });
    db.redeployOnRotation(serviceOf(stack, ecsCluster, 'Api', task));
    expect(db.node.validate()).toEqual([]);
  });

  test('a task definition in another stack is found, and the whole synth reports it', () => {
    const app = new App();
    const data = new Stack(app, 'Data', { env: ENV });
    const db = new DsqlUrlSecret(data, 'Db', { cluster: new dsql.CfnCluster(data, 'Cluster', {}) });
    const jobs = new Stack(app, 'Jobs', { env: ENV });
    const ecsCluster = new ecs.Cluster(jobs, 'EcsCluster', { vpc: new ec2.Vpc(jobs, 'Vpc', { maxAzs: 1, natGateways: 0 }) });
    serviceOf(jobs, ecsCluster, 'Worker', taskWith(jobs, 'WorkerTask', { secrets: { DATABASE_URL: db.ecsSecret() } }));
    taskWith(jobs, 'PlainTask', { environment: { DATABASE_URL: db.secret.secretValueFromJson('url').unsafeUnwrap() } });
    expect(() => app.synth()).toThrow(/task definition Jobs\/WorkerTask injects this secret .* used by Jobs\/Worker, not bound/);
    expect(db.node.validate()).toEqual([
      expect.stringMatching(/^container 'app' \(Jobs\/PlainTask\/app\) has this secret's value in its plaintext environment/),
      expect.stringMatching(/^task definition Jobs\/WorkerTask injects this secret/),
    ]);
  });

  test('a task definition that reads another, unrelated secret is ignored, pinned or not', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    const apiKey = new secretsmanager.Secret(stack, 'ApiKey');
    taskWith(stack, 'Other', {
      secrets: { API_KEY: ecs.Secret.fromSecretsManagerVersion(apiKey, { versionStage: 'AWSPREVIOUS' }, 'key') },
      environment: { TOKEN: apiKey.secretValueFromJson('token').unsafeUnwrap() },
    });
    givenService(stack, ecsCluster, 'Unbound');
    expect(db.node.validate()).toEqual([]);
  });

  test('two DsqlUrlSecrets in one app each check only their own secret', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const reads = new DsqlUrlSecret(stack, 'Reads', { cluster });
    const writes = new DsqlUrlSecret(stack, 'Writes', { cluster });
    const task = taskWith(stack, 'Both', { secrets: { READ_URL: reads.ecsSecret(), WRITE_URL: writes.ecsSecret() } });
    reads.redeployOnRotation(serviceOf(stack, ecsCluster, 'Api', task));
    taskWith(stack, 'WritesOnly', { secrets: { WRITE_URL: writes.ecsSecret() } });
    expect(reads.node.validate()).toEqual([]);
    expect(writes.node.validate()).toEqual([
      expect.stringMatching(/^task definition TestStack\/Both injects .* used by TestStack\/Api, not bound/),
      expect.stringMatching(/^task definition TestStack\/WritesOnly injects .* no service/),
    ]);
  });

  test('an ecs.CfnTaskDefinition of its own that injects the secret is refused; one that does not is ignored', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    new ecs.CfnTaskDefinition(stack, 'Raw', {
      containerDefinitions: [{ name: 'legacy', image: 'busybox', secrets: [{ name: 'DATABASE_URL', valueFrom: db.ecsSecret().arn }] }],
    });
    new ecs.CfnTaskDefinition(stack, 'Unrelated', { containerDefinitions: [{ name: 'other', image: 'busybox' }] });
    expect(db.node.validate()).toEqual([
      expect.stringMatching(/^the ecs.CfnTaskDefinition TestStack\/Raw injects this secret: its services cannot be bound/),
    ]);
  });
});
