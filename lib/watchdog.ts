import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { FUNCTION_CONFIG_ENV, METRICS_NAMESPACE, MetricName, WatchdogFunctionConfig } from './contract';
import { FunctionBundle } from './contract';
import { newHandlerFunction } from './handler-function';
import { STALE_PENDING_SECONDS } from './timing';

export interface WatchdogProps {
  readonly secret: secretsmanager.ISecret;
  readonly rotationFunction: lambda.IFunction;
  readonly interval: Duration;
  readonly rotateBeforeExpiry: Duration;
  /** The `Secret` dimension of the metrics. */
  readonly metricDimension: string;
  /** How long a connection check may take. */
  readonly connectTimeout: Duration;
  readonly vpc?: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
}

/** The watchdog alarm's window, in intervals, and how many of them must fail. */
const FAILED_WINDOW_INTERVALS = 3;
const FAILED_INTERVALS_TO_ALARM = 2;

/**
 * Every `interval`, connects with the current URL. If it does not
 * authenticate, or expires sooner than a rotation and rollout take, starts a
 * rotation. One alarm fires when checks fail repeatedly, another when the
 * watchdog itself fails or stops running.
 */
export class Watchdog extends Construct {
  public readonly function: lambda.Function;
  public readonly alarm: cloudwatch.Alarm;
  /** The watchdog's invocations errored, or there were none, in 2 of 3 intervals. */
  public readonly failedAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: WatchdogProps) {
    super(scope, id);
    const config: WatchdogFunctionConfig = {
      secretArn: props.secret.secretArn,
      rotateBeforeExpirySeconds: props.rotateBeforeExpiry.toSeconds(),
      stalePendingSeconds: STALE_PENDING_SECONDS,
      metricDimension: props.metricDimension,
      connectTimeoutSeconds: props.connectTimeout.toSeconds(),
    };
    this.function = newHandlerFunction(this, 'Function', {
      bundle: FunctionBundle.WATCHDOG,
      description: 'Checks that the Aurora DSQL URL still authenticates and rotates it when it does not',
      timeout: Duration.minutes(1),
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      environment: { [FUNCTION_CONFIG_ENV]: Stack.of(this).toJsonString(config) },
    });
    props.secret.grantRead(this.function);
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        // RotateSecret starts a rotation; UpdateSecretVersionStage clears a failed one's AWSPENDING.
        actions: ['secretsmanager:RotateSecret', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:ListSecretVersionIds'],
        resources: [props.secret.secretArn],
      }),
    );
    // RotateSecret requires the caller to be allowed to invoke the rotation function.
    this.function.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.rotationFunction.functionArn] }),
    );

    new events.Rule(this, 'Schedule', {
      description: 'Runs the Aurora DSQL URL watchdog',
      schedule: events.Schedule.rate(props.interval),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0 })],
    });

    const failures = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: MetricName.TOKEN_CHECK_FAILED,
      dimensionsMap: { Secret: props.metricDimension },
      statistic: 'Sum',
      period: props.interval,
    });
    this.alarm = failures.createAlarm(this, 'TokenCheckFailedAlarm', {
      alarmDescription: 'The Aurora DSQL URL in the secret failed to authenticate in consecutive watchdog checks',
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.failedAlarm = this.newFailedAlarm(props.interval);
  }

  /**
   * The token-check alarm cannot see a watchdog that crashes before its
   * metrics or is not invoked at all (a disabled rule, a deleted target, a
   * throttled account): Lambda's own metrics can. An interval fails when an
   * invocation errored or none ran; with no data at all (the function never
   * ran) the alarm also breaches. Two of three intervals, because the
   * schedule's jitter can move one invocation into the next period.
   */
  private newFailedAlarm(interval: Duration): cloudwatch.Alarm {
    const errors = this.function.metricErrors({ period: interval, statistic: 'Sum' });
    const invocations = this.function.metricInvocations({ period: interval, statistic: 'Sum' });
    return new cloudwatch.MathExpression({
      // Arithmetic, not a logical OR: each term is 0 in a healthy interval.
      expression: 'FILL(errors, 0) + IF(FILL(invocations, 0) < 1, 1, 0)',
      usingMetrics: { errors, invocations },
      period: interval,
      label: 'Watchdog errors plus intervals without an invocation',
    }).createAlarm(this, 'FailedAlarm', {
      alarmDescription:
        'The Aurora DSQL URL watchdog failed or did not run: nothing checks the URL or rescues a failed rotation; ' +
        "see the watchdog function's logs and its schedule",
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: FAILED_WINDOW_INTERVALS,
      datapointsToAlarm: FAILED_INTERVALS_TO_ALARM,
      // Lambda publishes nothing for a function that is not invoked: silence means it is not running.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }
}
