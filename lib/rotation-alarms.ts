import { Duration } from 'aws-cdk-lib/core';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, MetricName } from './contract';

export interface RotationAlarmsProps {
  readonly rotationFunction: lambda.IFunction;
  readonly rotationInterval: Duration;
  /** The `Secret` dimension of the handler's metrics. */
  readonly metricDimension: string;
}

// CloudWatch evaluates at most 7 days, in periods of at most one day.
const MAX_PERIOD_SECONDS = 86_400;
const MAX_WINDOW_SECONDS = 7 * MAX_PERIOD_SECONDS;

/**
 * Alarms for the rotation itself: one when a step fails, one when no
 * rotation succeeded within 1.5 x the interval.
 */
export class RotationAlarms extends Construct {
  public readonly rotationFailed: cloudwatch.Alarm;
  public readonly rotationOverdue: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RotationAlarmsProps) {
    super(scope, id);
    // Every failed step is a failed invocation (thrown error or timeout): Secrets Manager then retries the rotation.
    this.rotationFailed = props.rotationFunction
      .metricErrors({ period: Duration.minutes(5), statistic: 'Sum' })
      .createAlarm(this, 'RotationFailed', {
        alarmDescription: "A step of the Aurora DSQL URL rotation failed; see the rotation function's logs",
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });

    const window = Math.min(Math.ceil(1.5 * props.rotationInterval.toSeconds()), MAX_WINDOW_SECONDS);
    const periods = Math.ceil(window / MAX_PERIOD_SECONDS);
    const periodSeconds = Math.ceil(window / periods / 60) * 60;
    this.rotationOverdue = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: MetricName.ROTATION_SUCCEEDED,
      dimensionsMap: { Secret: props.metricDimension },
      statistic: 'Sum',
      period: Duration.seconds(periodSeconds),
    }).createAlarm(this, 'RotationOverdue', {
      alarmDescription: `No Aurora DSQL URL rotation succeeded within 1.5 x the rotation interval (${props.rotationInterval.toHumanString()})`,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      // No data means no rotation finished at all.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }
}
