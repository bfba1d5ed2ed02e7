import { Duration, Lazy } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { DsqlUrlSecret, DsqlUrlSecretProps, TokenSigner } from '../../lib';
import { minimumTaskValiditySeconds, rotateBeforeExpirySeconds, SAFETY_MARGIN_SECONDS, STALE_PENDING_SECONDS } from '../../lib/timing';
import { timingBudget } from '../../lib/validation';
import { givenService, givenStack } from './stack-fixture';

const IMAGE = ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest');

/** A DsqlUrlSecret signed by access keys, and a task definition that injects its URL (not bound to any service). */
function givenJob(props: Partial<DsqlUrlSecretProps> = {}) {
  const { stack, cluster, ecsCluster } = givenStack();
  const db = new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.managedAccessKey(), ...props });
  const job = new ecs.FargateTaskDefinition(stack, 'Migrate');
  job.addContainer('migrate', { image: IMAGE, secrets: { DATABASE_URL: db.ecsSecret() } });
  return { stack, ecsCluster, db, job };
}

describe('minimumTaskValidity', () => {
  test.each([
    ['the defaults', {}, (2 * 30 + 5) * 60],
    [
      'rolloutAllowance 45 min, watchdog 10 min',
      { rolloutAllowance: Duration.minutes(45), watchdogInterval: Duration.minutes(10) },
      (2 * 45 + 10) * 60,
    ],
    [
      'rolloutAllowance 2 h, 8 h interval, 1-day tokens',
      { rolloutAllowance: Duration.hours(2), rotationInterval: Duration.hours(8), tokenLifetime: Duration.days(1) },
      (2 * 120 + 5) * 60,
    ],
  ])(
    'with %s it is 2 x rolloutAllowance + watchdogInterval, from the timing function',
    (_what, props: Partial<DsqlUrlSecretProps>, expected) => {
      const { db } = givenJob(props);
      expect(db.minimumTaskValidity.toSeconds()).toBe(expected);
    },
  );

  test('the timing function subtracts the watchdog delay, the stale-pending wait and the margin from rotateBeforeExpiry', () => {
    for (const rollout of [60, 1800, 7200]) {
      for (const watchdog of [60, 300, 3600]) {
        const budget = { rolloutAllowanceSeconds: rollout, watchdogIntervalSeconds: watchdog };
        const derived = rotateBeforeExpirySeconds(budget) - watchdog - STALE_PENDING_SECONDS - SAFETY_MARGIN_SECONDS;
        expect(minimumTaskValiditySeconds(budget)).toBe(derived);
        // The rollout, then the heal of a stuck one (noticed up to one watchdog interval late, its own rollout).
        expect(derived).toBe(2 * rollout + watchdog);
      }
    }
  });
});

describe('addStandaloneTask', () => {
  test('a task within minimumTaskValidity (up to exactly it) is accepted and passes consumer discovery', () => {
    const { db, job } = givenJob();
    db.addStandaloneTask(job, { maxRunTime: Duration.minutes(65) });
    expect(db.node.validate()).toEqual([]);
  });

  test('maxRunTime over minimumTaskValidity is refused, naming the task definition, both values and what to raise', () => {
    const { db, job } = givenJob();
    expect(() => db.addStandaloneTask(job, { maxRunTime: Duration.minutes(95) })).toThrow(
      'addStandaloneTask(TestStack/Migrate): maxRunTime 1 hour 35 minutes is longer than minimumTaskValidity 1 hour 5 minutes ' +
        '(= 2 x rolloutAllowance + watchdogInterval), the least validity the current token has left when a task starts; the task is ' +
        'never redeployed, so its token could expire while it runs. Raise rolloutAllowance to at least 45 minutes (the minimums of ' +
        'tokenLifetime, then 7 hours, and rotationInterval, then 1 hour 40 minutes, grow with it), or make the task end within ' +
        '1 hour 5 minutes',
    );
    // Not declared: discovery still refuses the task definition.
    expect(db.node.validate()).toEqual([expect.stringMatching(/^task definition TestStack\/Migrate injects this secret/)]);
  });

  test('the minimums the error names are the ones the construct then enforces', () => {
    const { db, job } = givenJob();
    expect(() => db.addStandaloneTask(job, { maxRunTime: Duration.minutes(95) })).toThrow(/then 7 hours,/);
    // rolloutAllowance 45 min with tokens of 6 h 59 min: refused; 7 h: accepted, and so is the task.
    expect(() => givenJob({ rolloutAllowance: Duration.minutes(45), tokenLifetime: Duration.minutes(419) })).toThrow(
      /tokenLifetime must be at least .* = 7 hours,/,
    );
    const raised = givenJob({ rolloutAllowance: Duration.minutes(45), tokenLifetime: Duration.minutes(420) });
    expect(() => raised.db.addStandaloneTask(raised.job, { maxRunTime: Duration.minutes(95) })).not.toThrow();
    expect(raised.db.minimumTaskValidity.toMinutes()).toBe(95);
  });

  test('with the role signer it is refused: its tokens have no guaranteed validity', () => {
    const { db, job } = givenJob({ signer: TokenSigner.rotationFunctionRole() });
    expect(() => db.addStandaloneTask(job, { maxRunTime: Duration.minutes(1) })).toThrow(
      "addStandaloneTask(TestStack/Migrate): the signer is TokenSigner.rotationFunctionRole(), whose tokens die when the rotation function's " +
        'session credentials expire, at a time Lambda does not disclose: no validity is guaranteed to a task that is never redeployed. ' +
        'Use signer: TokenSigner.managedAccessKey(), whose tokens live their full tokenLifetime',
    );
  });

  test('maxRunTime must be a literal, positive Duration', () => {
    const { db, job } = givenJob();
    const token = Duration.seconds(Lazy.number({ produce: () => 60 }));
    expect(() => db.addStandaloneTask(job, { maxRunTime: token })).toThrow(/maxRunTime must be a literal Duration, got a token/);
    expect(() => db.addStandaloneTask(job, { maxRunTime: Duration.seconds(0) })).toThrow(/maxRunTime must be positive, got 0 seconds/);
  });

  test('a task definition is declared once', () => {
    const { db, job } = givenJob();
    db.addStandaloneTask(job, { maxRunTime: Duration.minutes(10) });
    expect(() => db.addStandaloneTask(job, { maxRunTime: Duration.minutes(10) })).toThrow(/TestStack\/Migrate\): .* already declared/);
  });

  test('declaring does not excuse a service that runs the same task definition unbound', () => {
    const { stack, ecsCluster, db, job } = givenJob();
    db.addStandaloneTask(job, { maxRunTime: Duration.minutes(10) });
    new ecs.FargateService(stack, 'Worker', { cluster: ecsCluster, taskDefinition: job, minHealthyPercent: 100 });
    expect(db.node.validate()).toEqual([expect.stringMatching(/TestStack\/Migrate .* used by TestStack\/Worker, not bound/)]);
  });

  test('the execution role reads the secret through one statement, and the task definition waits for the first rotation', () => {
    const { stack, db, job } = givenJob();
    db.addStandaloneTask(job, { maxRunTime: Duration.minutes(10) });
    const t = Template.fromStack(stack);
    const executionPolicies = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles ?? []).includes('MigrateExecutionRole'),
    );
    const reads = executionPolicies
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string[]; Resource: unknown }>)
      .filter((s) => JSON.stringify(s.Resource).includes('DbSecret'));
    expect(reads).toEqual([expect.objectContaining({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'] })]);
    const [taskDefinition] = Object.values(t.findResources('AWS::ECS::TaskDefinition'));
    expect(taskDefinition.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^DbInitialRotation/)]));
  });

  test('a declared task definition whose containers do not inject the secret yet gets read access from the declaration', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.managedAccessKey() });
    const job = new ecs.FargateTaskDefinition(stack, 'Later');
    db.addStandaloneTask(job, { maxRunTime: Duration.minutes(5) });
    job.addContainer('later', { image: IMAGE });
    const statements = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles ?? []).includes('LaterExecutionRole'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Resource: unknown }>);
    expect(statements.filter((s) => JSON.stringify(s.Resource).includes('DbSecret'))).toHaveLength(1);
  });

  test('timingBudget of the props is what minimumTaskValidity comes from', () => {
    const props = { rotationInterval: Duration.hours(6), tokenLifetime: Duration.hours(12), rolloutAllowance: Duration.minutes(40) };
    const { db } = givenJob(props);
    const budget = timingBudget({ ...props, watchdogInterval: Duration.minutes(5) });
    expect(db.minimumTaskValidity.toSeconds()).toBe(minimumTaskValiditySeconds(budget));
  });

  test('a bound service of the same secret is unaffected by declarations', () => {
    const { stack, ecsCluster, db, job } = givenJob();
    db.addStandaloneTask(job, { maxRunTime: Duration.minutes(10) });
    db.redeployOnRotation(givenService(stack, ecsCluster, 'Api', db.ecsSecret()));
    expect(db.node.validate()).toEqual([]);
  });
});
