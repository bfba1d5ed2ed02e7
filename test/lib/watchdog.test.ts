import * as cdk from 'aws-cdk-lib';
import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { FunctionBundle, METRICS_NAMESPACE } from '../../lib/contract';
import { DsqlUrlSecret } from '../../lib';
import { bundleOfFunction, functionId } from './function-bundle';
import { CONFIG_FIELDS, functionConfig } from './function-config';
import { givenStack } from './stack-fixture';

/** Every statement of the policies attached to the watchdog's role. */
function watchdogStatements(stack: cdk.Stack): Array<{ Action: string | string[]; Resource: unknown; Condition?: unknown }> {
  return Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles ?? []).includes('DbWatchdogFunctionServiceRole'))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

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
      JSON.stringify(p.Properties.Roles ?? []).includes('DbWatchdogFunctionServiceRole'),
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

  test('its configuration carries the bound-services parameters, rolloutAllowance and the redeploy concurrency; its timeout is one interval', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', {
      cluster,
      rolloutAllowance: Duration.minutes(20),
      redeployConcurrency: 3,
      watchdogInterval: Duration.minutes(2),
    });
    const watchdog = functionConfig(stack, 'DbWatchdogFunction');
    const rotation = functionConfig(stack, 'DbRotationFunction');
    expect(watchdog).toMatchObject({
      boundServicesParameter: rotation.boundServicesParameter,
      boundServicesParameterCount: rotation.boundServicesParameterCount,
      rolloutAllowanceSeconds: 20 * 60,
      redeployConcurrency: 3,
    });
    expect(
      Template.fromStack(stack).findResources('AWS::Lambda::Function')[functionId(stack, 'DbWatchdogFunction')].Properties.Timeout,
    ).toBe(120);
  });

  test.each([
    [Duration.minutes(1), 60],
    [Duration.minutes(5), 300],
    [Duration.minutes(30), 300],
  ])('with a %s interval the timeout is %i s: never longer than an interval, at most 5 minutes', (interval, seconds) => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, watchdogInterval: interval });
    expect(
      Template.fromStack(stack).findResources('AWS::Lambda::Function')[functionId(stack, 'DbWatchdogFunction')].Properties.Timeout,
    ).toBe(seconds);
  });

  test('may read the bound-services parameters with GetParameters: <base> and <base>-* only', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const base = functionConfig(stack, 'DbWatchdogFunction').boundServicesParameter as string;
    const statements = watchdogStatements(stack);
    const read = statements.filter((s) => ([] as string[]).concat(s.Action).includes('ssm:GetParameters'));
    expect(read).toHaveLength(1);
    expect(read[0].Action).toBe('ssm:GetParameters');
    const resources = JSON.stringify(read[0].Resource);
    expect(resources).toContain(`:parameter${base}"`);
    expect(resources).toContain(`:parameter${base}-*"`);
    expect(read[0].Resource).toHaveLength(2);
  });

  test('the fleet-token alarm: FleetTokenSecondsLeft (Minimum, one interval) below rolloutAllowance + interval; missing data not breaching', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, watchdogInterval: Duration.minutes(4), rolloutAllowance: Duration.minutes(25) });
    const t = Template.fromStack(stack);
    const alarms = t.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'FleetTokenSecondsLeft' } });
    expect(Object.values(alarms)).toHaveLength(1);
    expect(Object.values(alarms)[0].Properties).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      Dimensions: [{ Name: 'Secret', Value: functionConfig(stack, 'DbWatchdogFunction').metricDimension }],
      Statistic: 'Minimum',
      Period: 4 * 60,
      Threshold: (25 + 4) * 60,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(stack.getLogicalId(db.fleetTokenAlarm.node.defaultChild as cdk.CfnElement)).toBe(Object.keys(alarms)[0]);
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

  describe('the watchdog-failed alarm', () => {
    function failedAlarm(interval?: Duration) {
      const { stack, cluster } = givenStack();
      const db = new DsqlUrlSecret(stack, 'Db', { cluster, watchdogInterval: interval });
      const t = Template.fromStack(stack);
      const alarms = t.findResources('AWS::CloudWatch::Alarm', {
        Properties: { Metrics: Match.arrayWith([Match.objectLike({ Id: 'invocations' })]) },
      });
      expect(Object.keys(alarms)).toHaveLength(1);
      return { db, stack, id: Object.keys(alarms)[0], alarm: Object.values(alarms)[0].Properties };
    }

    test('fires on errors or no invocation in 2 of 3 watchdog intervals; missing data is breaching', () => {
      const { db, stack, alarm } = failedAlarm(Duration.minutes(7));
      const watchdog = { Ref: functionId(stack, 'DbWatchdogFunction') };
      expect(alarm).toMatchObject({
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        TreatMissingData: 'breaching',
      });
      const byId = Object.fromEntries(alarm.Metrics.map((m: { Id: string }) => [m.Id, m]));
      expect(Object.keys(byId).sort()).toEqual(['errors', 'expr_1', 'invocations']);
      expect(byId.expr_1).toMatchObject({ Expression: 'FILL(errors, 0) + IF(FILL(invocations, 0) < 1, 1, 0)', ReturnData: true });
      for (const [id, name] of [
        ['errors', 'Errors'],
        ['invocations', 'Invocations'],
      ]) {
        expect(byId[id]).toMatchObject({
          ReturnData: false,
          MetricStat: {
            Metric: { Namespace: 'AWS/Lambda', MetricName: name, Dimensions: [{ Name: 'FunctionName', Value: watchdog }] },
            Period: 7 * 60,
            Stat: 'Sum',
          },
        });
      }
      expect(db.watchdogFailedAlarm.alarmArn).toBeDefined();
    });

    test('watches the watchdog function only, not the rotation function, and has no actions of its own', () => {
      const { stack, alarm } = failedAlarm();
      expect(JSON.stringify(alarm)).not.toContain(functionId(stack, 'DbRotationFunction'));
      expect(alarm.AlarmActions).toBeUndefined();
      expect(alarm.AlarmDescription).toMatch(/watchdog failed or did not run/);
    });

    test('is the construct member, so users can add actions', () => {
      const { db, stack, id } = failedAlarm();
      expect(stack.getLogicalId(db.watchdogFailedAlarm.node.defaultChild as cdk.CfnElement)).toBe(id);
    });
  });
});
