import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { DsqlUrlSecret } from '../../lib';
import { PARKED_AUTOMATICALLY_AFTER_DAYS, rotatesByScheduler } from '../../lib/rotation-schedule-kind';
import { needsScheduler } from '../../lib/validation';
import { givenStack } from './stack-fixture';

describe('rotation more often than every 4 hours', () => {
  test('uses an EventBridge Scheduler schedule calling RotateSecret, and a native rule that never comes due', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', {
      cluster,
      rotationInterval: Duration.hours(1),
      rolloutAllowance: Duration.minutes(15),
      tokenLifetime: Duration.hours(2),
    });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      Target: Match.objectLike({
        Arn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':scheduler:::aws-sdk:secretsmanager:rotateSecret']] },
        Input: { 'Fn::Join': ['', ['{"SecretId":"', { Ref: Match.stringLikeRegexp('DbSecret') }, '"}']] },
      }),
    });
    const schedule = Object.values(t.findResources('AWS::SecretsManager::RotationSchedule'))[0];
    // An explicit native rule that never comes due, not none (see 'moving across the 4-hour line' below).
    expect(schedule.Properties.RotationRules).toEqual({ ScheduleExpression: 'rate(1000 days)', Duration: '1h' });
    expect(schedule.Properties.RotateImmediatelyOnUpdate).toBe(false);
  });

  test("the scheduler's role may rotate this secret and invoke this function only", () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', {
      cluster,
      rotationInterval: Duration.minutes(90),
      rolloutAllowance: Duration.minutes(10),
      tokenLifetime: Duration.hours(3),
    });
    const policies = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles ?? []).includes('SchedulerRoleForTarget'),
    );
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements).toEqual([
      expect.objectContaining({ Action: 'secretsmanager:RotateSecret', Resource: { Ref: expect.stringMatching(/^DbSecret/) } }),
      expect.objectContaining({
        Action: 'lambda:InvokeFunction',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^DbRotationFunction/), 'Arn'] },
      }),
    ]);
    Template.fromStack(stack).hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(90 minutes)' });
  });

  test('whole hours from 4 hours up use the native schedule and no scheduler', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, rotationInterval: Duration.hours(5), tokenLifetime: Duration.hours(10) });
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::Scheduler::Schedule', 0);
    t.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      RotationRules: { ScheduleExpression: 'rate(5 hours)', Duration: '1h' },
    });
  });
});

describe('moving an existing stack across the 4-hour line', () => {
  /** The template of one deployment: the native rotation schedule (by logical id) and the scheduler's schedules. */
  function deployment(rotationInterval: Duration) {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', {
      cluster,
      rotationInterval,
      rolloutAllowance: Duration.minutes(15),
      tokenLifetime: Duration.hours(12),
    });
    const t = Template.fromStack(stack);
    const native = Object.entries(t.findResources('AWS::SecretsManager::RotationSchedule'));
    expect(native).toHaveLength(1);
    const [nativeId, schedule] = native[0];
    const rules = schedule.Properties.RotationRules as { ScheduleExpression: string; Duration: string };
    const scheduler = Object.values(t.findResources('AWS::Scheduler::Schedule')).map((s) => s.Properties.ScheduleExpression as string);
    return { nativeId, rules, scheduler };
  }

  /** Which schedules rotate: the native one unless its rule is parked (rotation-schedule-kind.ts), and each scheduler schedule. */
  function rotating(d: ReturnType<typeof deployment>): string[] {
    const nativeRotates = d.rules.ScheduleExpression !== `rate(${PARKED_AUTOMATICALLY_AFTER_DAYS} days)`;
    return [...(nativeRotates ? [`native ${d.rules.ScheduleExpression}`] : []), ...d.scheduler.map((e) => `scheduler ${e}`)];
  }

  test.each([
    ['native to EventBridge Scheduler', Duration.hours(6), Duration.hours(1)],
    ['EventBridge Scheduler to native', Duration.minutes(90), Duration.hours(4)],
    ['native to Scheduler at whole hours', Duration.hours(8), Duration.hours(3)],
  ])('%s: exactly one schedule rotates on each side, and the native rule is rewritten, never removed', (_move, before, after) => {
    const a = deployment(before);
    const b = deployment(after);
    expect(rotating(a)).toHaveLength(1);
    expect(rotating(b)).toHaveLength(1);
    // The same resource, updated in place, with RotationRules present on both sides: CloudFormation rewrites the rule
    // rather than leaving the old one rotating (aws-cdk#27460), and only the expression changes.
    expect(b.nativeId).toBe(a.nativeId);
    expect(Object.keys(a.rules).sort()).toEqual(['Duration', 'ScheduleExpression']);
    expect(Object.keys(b.rules).sort()).toEqual(Object.keys(a.rules).sort());
    expect(a.rules.Duration).toBe('1h');
    expect(b.rules.Duration).toBe('1h');
    expect(b.rules.ScheduleExpression).not.toBe(a.rules.ScheduleExpression);
  });

  test('the parked native rule is the longest Secrets Manager accepts, far beyond any interval the construct allows', () => {
    const scheduled = deployment(Duration.hours(1));
    expect(scheduled.rules.ScheduleExpression).toBe('rate(1000 days)');
    expect(scheduled.scheduler).toEqual(['rate(1 hour)']);
    const native = deployment(Duration.hours(6));
    expect(native.rules.ScheduleExpression).toBe('rate(6 hours)');
    expect(native.scheduler).toEqual([]);
  });

  test('the construct and the CLI choose the schedule by the same rule', () => {
    for (const [seconds, scheduler] of [
      [3600, true],
      [4 * 3600 - 1, true],
      [4 * 3600, false],
      [4 * 3600 + 1800, true],
      [5 * 3600, false],
    ] as const) {
      expect(rotatesByScheduler(seconds)).toBe(scheduler);
      expect(needsScheduler(Duration.seconds(seconds))).toBe(scheduler);
    }
  });
});
