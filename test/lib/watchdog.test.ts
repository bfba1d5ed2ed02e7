import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { FunctionBundle, METRICS_NAMESPACE } from '../../lib/contract';
import { DsqlUrlSecret } from '../../lib';
import { bundleOfFunction, functionId } from './function-bundle';
import { CONFIG_FIELDS, functionConfig } from './function-config';
import { givenStack } from './stack-fixture';

describe('watchdog', () => {
  test('runs every watchdogInterval and rotates before rollout + interval + stale-pending wait + margin remain', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, watchdogInterval: Duration.minutes(3), rolloutAllowance: Duration.minutes(20) });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(3 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DbWatchdogFunction'), 'Arn'] } })],
    });
    const watchdogId = functionId(stack, 'DbWatchdogFunction');
    expect(bundleOfFunction(stack, watchdogId)).toBe(FunctionBundle.WATCHDOG);
    expect(t.findResources('AWS::Lambda::Function')[watchdogId].Properties.Handler).toBe('index.handler');
    expect(functionConfig(stack, 'DbWatchdogFunction')).toMatchObject({
      secretArn: { Ref: expect.stringMatching(/DbSecret/) },
      rotateBeforeExpirySeconds: (20 + 3 + 15 + 5) * 60,
    });
  });

  test('its configuration has exactly the fields the watchdog reads, the connect timeout and stale-pending wait included', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const cfg = functionConfig(stack, 'DbWatchdogFunction');
    expect(Object.keys(cfg).sort()).toEqual(CONFIG_FIELDS.watchdog);
    expect(cfg).toMatchObject({ connectTimeoutSeconds: 10, stalePendingSeconds: 15 * 60 });
    // The same dimension as the rotation function's, which the alarms watch.
    expect(cfg.metricDimension).toBe(functionConfig(stack, 'DbRotationFunction').metricDimension);
  });

  test('may read, rotate and unblock this secret, and invoke this rotation function only', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const policies = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes('DbWatchdogFunctionServiceRole'),
    );
    const statements: Array<{ Action: string | string[]; Resource: unknown }> = policies.flatMap(
      (p) => p.Properties.PolicyDocument.Statement,
    );
    const rotate = statements.find((s) => ([] as string[]).concat(s.Action).includes('secretsmanager:RotateSecret'));
    expect(rotate?.Resource).toEqual({ Ref: expect.stringMatching(/^DbSecret/) });
    const invoke = statements.find((s) => s.Action === 'lambda:InvokeFunction');
    expect(invoke?.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DbRotationFunction/), 'Arn'] });
    expect(JSON.stringify(statements)).not.toMatch(/"\*"|dsql:/);
  });

  test('the token-check alarm fires on two consecutive failed checks', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRICS_NAMESPACE,
      MetricName: 'TokenCheckFailed',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(db.tokenCheckAlarm.alarmArn).toBeDefined();
  });
});
