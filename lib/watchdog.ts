import { Duration, Stack } from 'aws-cdk-lib/core';
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
  /** The first bound-services parameter; the fleet check reads `<name>`, `<name>-2`, ... */
  readonly boundServicesParameter: string;
  /** How many bound-services parameters there are (a lazy number, known at synth). */
  readonly boundServicesParameterCount: number;
  /** Changes whenever the set of bound services does (BoundServices.fingerprint, a lazy string). */
  readonly boundServicesFingerprint: string;
  /** The first bound-functions parameter (lib/function-consumers.ts); its `<name>-*` read permission comes with it. */
  readonly boundFunctionsParameter: string;
  /** How many bound-functions parameters there are (a lazy number, known at synth). */
  readonly boundFunctionsParameterCount: number;
  /** A service still running old tasks this long after a promotion gets one more forced deployment. */
  readonly rolloutAllowance: Duration;
  /** How many UpdateService calls a heal may run at once. */
  readonly redeployConcurrency: number;
}

/**
 * The fleet-token alarm's threshold: a heal is noticed up to one interval late and its rollout takes up to
 * rolloutAllowance, so a running task's token must have at least this long left.
 */
export function fleetTokenAlarmThresholdSeconds(rolloutAllowance: Duration, interval: Duration): number {
  return rolloutAllowance.toSeconds() + interval.toSeconds();
}

/** The watchdog alarm's window, in intervals, and how many of them must fail. */
const FAILED_WINDOW_INTERVALS = 3;
const FAILED_INTERVALS_TO_ALARM = 2;

/** The longest a run may take: the fleet check may list the tasks of hundreds of services and heal some. */
const MAX_TIMEOUT_SECONDS = 300;

/**
 * Every `interval`, connects with the current URL. If it does not
 * authenticate, or expires sooner than a rotation and rollout take, starts a
 * rotation. Then checks which token the bound services' running tasks hold,
 * and heals a service whose old tasks outlived rolloutAllowance. One alarm
 * fires when checks fail repeatedly, one when the watchdog itself fails or
 * stops running, one when a running task holds a token too close to expiry.
 *
 * The ECS permissions of the fleet check come with the bound services
 * (DsqlUrlSecret.redeployOnRotation): the watchdog's policies then name the
 * services, so it is created after them, which nothing waits for.
 */
export class Watchdog extends Construct {
  public readonly function: lambda.Function;
  public readonly alarm: cloudwatch.Alarm;
  /** The watchdog's invocations errored, or there were none, in 2 of 3 intervals. */
  public readonly failedAlarm: cloudwatch.Alarm;
  /**
   * A running task of a bound service holds a token that expires sooner than
   * a heal could replace the task: FleetTokenSecondsLeft (Minimum over one
   * interval) below rolloutAllowance + interval, as a heal is noticed up to
   * one interval late and its rollout takes up to rolloutAllowance. Missing
   * data is not breaching: failedAlarm covers a watchdog that does not run.
   */
  public readonly fleetTokenAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: WatchdogProps) {
    super(scope, id);
    const config: WatchdogFunctionConfig = {
      secretArn: props.secret.secretArn,
      rotateBeforeExpirySeconds: props.rotateBeforeExpiry.toSeconds(),
      stalePendingSeconds: STALE_PENDING_SECONDS,
      metricDimension: props.metricDimension,
      connectTimeoutSeconds: props.connectTimeout.toSeconds(),
      boundServicesParameter: props.boundServicesParameter,
      boundServicesParameterCount: props.boundServicesParameterCount,
      boundServicesFingerprint: props.boundServicesFingerprint,
      boundFunctionsParameter: props.boundFunctionsParameter,
      boundFunctionsParameterCount: props.boundFunctionsParameterCount,
      rolloutAllowanceSeconds: props.rolloutAllowance.toSeconds(),
      redeployConcurrency: props.redeployConcurrency,
    };
    this.function = newHandlerFunction(this, 'Function', {
      bundle: FunctionBundle.WATCHDOG,
      description: 'Checks that the Aurora DSQL URL still authenticates and rotates it when it does not',
      // At most one interval, so that two runs do not overlap (each would heal the same service).
      timeout: Duration.seconds(Math.max(60, Math.min(props.interval.toSeconds(), MAX_TIMEOUT_SECONDS))),
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

    // One statement for however many parameters (GetParameters, 10 names a call), as the rotation function's read of them.
    const parameter = (name: string) => Stack.of(this).formatArn({ service: 'ssm', resource: 'parameter', resourceName: name.slice(1) });
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ssm:GetParameters'],
        resources: [parameter(props.boundServicesParameter), parameter(`${props.boundServicesParameter}-*`)],
      }),
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
    this.fleetTokenAlarm = this.newFleetTokenAlarm(props);
  }

  private newFleetTokenAlarm(props: WatchdogProps): cloudwatch.Alarm {
    const rescueSeconds = fleetTokenAlarmThresholdSeconds(props.rolloutAllowance, props.interval);
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: MetricName.FLEET_TOKEN_SECONDS_LEFT,
      dimensionsMap: { Secret: props.metricDimension },
      statistic: 'Minimum',
      period: props.interval,
    }).createAlarm(this, 'FleetTokenAlarm', {
      alarmDescription:
        `A running task of a service bound to the Aurora DSQL URL holds a token that expires in less than ${rescueSeconds} s ` +
        '(rolloutAllowance + watchdogInterval), sooner than a heal could replace it; ' +
        "see the watchdog function's 'fleet check' log lines for the service",
      threshold: rescueSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // The watchdog-failed alarm covers a watchdog that does not run or cannot see the fleet.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
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
