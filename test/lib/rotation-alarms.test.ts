import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { METRICS_NAMESPACE } from '../../lib/contract';
import { DsqlUrlSecret } from '../../lib';
import { functionConfig } from './function-config';
import { givenStack } from './stack-fixture';

describe('rotation alarms', () => {
  test('rotationFailedAlarm fires on any error of the rotation function', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Statistic: 'Sum',
      Threshold: 1,
      EvaluationPeriods: 1,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^DbRotationFunction') } }],
    });
    expect(stack.resolve(db.rotationFailedAlarm.alarmArn)).toBeDefined();
  });

  test('rotationOverdueAlarm fires when no rotation succeeded within 1.5 x the interval, missing data included', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRICS_NAMESPACE,
      MetricName: 'RotationSucceeded',
      Statistic: 'Sum',
      Period: 6 * 3600,
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    // The handler emits under the same dimension the alarm watches.
    const dimension = functionConfig(stack, 'DbRotationFunction').metricDimension;
    const alarm = Object.values(t.findResources('AWS::CloudWatch::Alarm')).find((a) => a.Properties.MetricName === 'RotationSucceeded')!;
    expect(typeof dimension).toBe('string');
    expect(alarm.Properties.Dimensions).toEqual([{ Name: 'Secret', Value: dimension }]);
  });

  test('windows longer than a day are split into day-long periods, at most 7', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', {
      cluster,
      rotationInterval: Duration.days(2),
      tokenLifetime: Duration.days(4),
    });
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'RotationSucceeded',
      Period: 86400,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
    const long = givenStack();
    new DsqlUrlSecret(long.stack, 'Db', { cluster: long.cluster, rotationInterval: Duration.days(6), tokenLifetime: Duration.days(7) });
    Template.fromStack(long.stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'RotationSucceeded',
      Period: 86400,
      EvaluationPeriods: 7,
    });
  });
});
