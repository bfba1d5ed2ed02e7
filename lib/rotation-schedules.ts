import { Duration } from 'aws-cdk-lib/core';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { PARKED_AUTOMATICALLY_AFTER_DAYS } from './rotation-schedule-kind';
import { grantRotation, rotationFunctionReference } from './rotation-permissions';
import { RotationTrigger } from './rotation-trigger';
import { needsScheduler } from './validation';

export interface ScheduleRotationProps {
  readonly secret: secretsmanager.ISecret;
  readonly rotationFunction: lambda.IFunction;
  readonly interval: Duration;
}

/**
 * The secret's rotation schedule: Secrets Manager's own for whole hours from
 * 4 hours up, EventBridge Scheduler (RotationTrigger, created in `scope`) for
 * anything else. Returns the rotation schedule, which the first rotation waits for.
 */
export function scheduleRotation(scope: Construct, props: ScheduleRotationProps): secretsmanager.RotationSchedule {
  const scheduled = needsScheduler(props.interval);
  const rotationSchedule = props.secret.addRotationSchedule('RotationSchedule', {
    // A reference CDK grants nothing to: grantRotation() grants what rotation needs, scoped to this secret (rotation-permissions.ts).
    rotationLambda: rotationFunctionReference(scope, props.rotationFunction),
    // Under EventBridge Scheduler, a native rule that never comes due rather than none: CloudFormation keeps the
    // previous rules when RotationRules is removed (aws-cdk#27460), so both schedules would rotate (rotation-schedule-kind.ts).
    automaticallyAfter: scheduled ? Duration.days(PARKED_AUTOMATICALLY_AFTER_DAYS) : props.interval,
    // The first rotation is run, and waited for, by InitialRotation.
    rotateImmediatelyOnUpdate: false,
  });
  // Secrets Manager rotates anywhere in a window after each tick: keep it to the hour the time budget counts.
  // Set in both shapes, so a move across the 4-hour line changes only the expression.
  (rotationSchedule.node.defaultChild as secretsmanager.CfnRotationSchedule).addPropertyOverride('RotationRules.Duration', '1h');
  grantRotation(props.rotationFunction, props.secret, rotationSchedule);
  if (scheduled) {
    const trigger = new RotationTrigger(scope, 'RotationTrigger', {
      secret: props.secret,
      rotationFunction: props.rotationFunction,
      interval: props.interval,
    });
    trigger.schedule.node.addDependency(rotationSchedule);
  }
  return rotationSchedule;
}
