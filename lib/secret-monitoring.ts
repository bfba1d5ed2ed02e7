import { Duration } from 'aws-cdk-lib/core';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { BoundServices } from './bound-services';
import { RotationFunctionConfig } from './contract';
import { BoundFunctions } from './function-consumers';
import { RotationAlarms } from './rotation-alarms';
import { rotateBeforeExpirySeconds, TimingBudget } from './timing';
import { FunctionNetworkOptions } from './vpc-endpoints';
import { Watchdog } from './watchdog';

/** What DsqlUrlSecret hands over to watch the secret, its rotations and its consumers. */
export interface SecretMonitoringProps {
  readonly secret: secretsmanager.ISecret;
  readonly rotationFunction: lambda.Function;
  /** The rotation function's configuration: the parameters, the intervals and the connection timeout come from it. */
  readonly config: RotationFunctionConfig;
  readonly rotationInterval: Duration;
  readonly budget: TimingBudget;
  readonly network: Pick<FunctionNetworkOptions, 'vpc' | 'vpcSubnets'>;
  readonly boundServices: BoundServices;
  readonly boundFunctions: BoundFunctions;
}

/** The watchdog function and the alarms, which DsqlUrlSecret exposes as its members of the same names. */
export interface SecretMonitoring {
  readonly watchdogFunction: lambda.IFunction;
  readonly tokenCheckAlarm: cloudwatch.Alarm;
  readonly watchdogFailedAlarm: cloudwatch.Alarm;
  readonly fleetTokenAlarm: cloudwatch.Alarm;
  readonly functionUpdateAlarm: cloudwatch.Alarm;
  readonly rotationFailedAlarm: cloudwatch.Alarm;
  readonly rotationOverdueAlarm: cloudwatch.Alarm;
}

/**
 * The watchdog (construct id `Watchdog`), the bound functions' update alarm and the rotation alarms (`Alarms`), created in
 * `scope`, the DsqlUrlSecret: their ids, and so their logical ids, are those it has always given them.
 */
export function setUpMonitoring(scope: Construct, props: SecretMonitoringProps): SecretMonitoring {
  const { config } = props;
  const interval = Duration.seconds(config.watchdogIntervalSeconds);
  const watchdog = new Watchdog(scope, 'Watchdog', {
    secret: props.secret,
    rotationFunction: props.rotationFunction,
    interval,
    rotateBeforeExpiry: Duration.seconds(rotateBeforeExpirySeconds(props.budget)),
    metricDimension: config.metricDimension,
    connectTimeout: Duration.seconds(config.connectTimeoutSeconds),
    vpc: props.network.vpc,
    vpcSubnets: props.network.vpcSubnets,
    boundServicesParameter: config.boundServicesParameter,
    boundServicesParameterCount: config.boundServicesParameterCount,
    boundServicesFingerprint: props.boundServices.fingerprint,
    boundFunctionsParameter: config.boundFunctionsParameter,
    boundFunctionsParameterCount: config.boundFunctionsParameterCount,
    rolloutAllowance: Duration.seconds(config.rolloutAllowanceSeconds),
    redeployConcurrency: config.redeployConcurrency,
  });
  const functionUpdateAlarm = props.boundFunctions.watch(watchdog.function, interval);
  const alarms = new RotationAlarms(scope, 'Alarms', {
    rotationFunction: props.rotationFunction,
    rotationInterval: props.rotationInterval,
    metricDimension: config.metricDimension,
  });
  return {
    watchdogFunction: watchdog.function,
    tokenCheckAlarm: watchdog.alarm,
    watchdogFailedAlarm: watchdog.failedAlarm,
    fleetTokenAlarm: watchdog.fleetTokenAlarm,
    functionUpdateAlarm,
    rotationFailedAlarm: alarms.rotationFailed,
    rotationOverdueAlarm: alarms.rotationOverdue,
  };
}
