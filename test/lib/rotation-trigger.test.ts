import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { DsqlUrlSecret } from '../../lib';
import { givenStack } from './stack-fixture';

describe('rotation more often than every 4 hours', () => {
  test('uses an EventBridge Scheduler schedule calling RotateSecret, and no native schedule', () => {
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
    expect(schedule.Properties.RotationRules).toBeUndefined();
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
      JSON.stringify(p.Properties.Roles).includes('SchedulerRoleForTarget'),
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
