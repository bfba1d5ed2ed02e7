import { Duration } from 'aws-cdk-lib/core';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export interface RotationTriggerProps {
  readonly secret: secretsmanager.ISecret;
  readonly rotationFunction: lambda.IFunction;
  readonly interval: Duration;
}

/**
 * Calls RotateSecret on an EventBridge Scheduler schedule, for intervals that
 * Secrets Manager's own schedule cannot express (under 4 hours, or not whole
 * hours). Its role may only rotate this secret.
 */
export class RotationTrigger extends Construct {
  public readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: RotationTriggerProps) {
    super(scope, id);
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'Rotates the Aurora DSQL URL secret',
      schedule: scheduler.ScheduleExpression.rate(props.interval),
      target: new schedulerTargets.Universal({
        service: 'secretsmanager',
        action: 'rotateSecret',
        input: scheduler.ScheduleTargetInput.fromObject({ SecretId: props.secret.secretArn }),
        // A failed call is retried by the next tick or the watchdog; a late retry would rotate off-schedule.
        retryAttempts: 0,
        policyStatements: [
          new iam.PolicyStatement({ actions: ['secretsmanager:RotateSecret'], resources: [props.secret.secretArn] }),
          // RotateSecret requires the caller to be allowed to invoke the rotation function.
          new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.rotationFunction.functionArn] }),
        ],
      }),
    });
  }
}
