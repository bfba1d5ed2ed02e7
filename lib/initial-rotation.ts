import { CustomResource, Duration, Stack } from 'aws-cdk-lib/core';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { InitialRotationProperties, UrlSettingsProperties } from './configuration-change';
import { FUNCTION_CONFIG_ENV, InitialRotationFunctionConfig } from './contract';
import { FunctionBundle } from './contract';
import { newHandlerFunction } from './handler-function';
import { FirstRotationSigner } from './token-signer-binding';

/** The cluster the URL points at: the first rotation waits until it accepts connections. */
export interface InitialRotationCluster {
  readonly identifier: string;
  readonly region: string;
  readonly arn: string;
}

/**
 * A first rotation still AWSPENDING this long after it started has failed and
 * is started again: with no bound service to redeploy yet, a healthy one takes
 * well under a minute, retries of a new access key included (about 80 s at worst).
 */
const REDRIVE_AFTER = Duration.minutes(3);
/** Within the 10-minute wait: the first rotation and two re-drives. */
const MAX_ROTATION_ATTEMPTS = 3;
/**
 * A custom role's pending token refused this long fails the wait (bootstrap off): longer than a new
 * access key takes to be accepted (testSecret retries it for about 30 s), far shorter than the wait.
 */
const ROLE_GRANT_GRACE = Duration.seconds(45);
const ROLE_GRANT_CONNECT_TIMEOUT = Duration.seconds(10);

export interface InitialRotationProps {
  readonly secret: secretsmanager.ISecret;
  readonly cluster: InitialRotationCluster;
  readonly rotationFunction: lambda.IFunction;
  /** The rotation function's log group, which a failed first rotation points to. */
  readonly rotationLogGroupName: string;
  /** The signer's part: the IAM user whose Lambda-created access keys must go before CloudFormation deletes it, if any. */
  readonly signer: FirstRotationSigner;
  /** What the URL is made of: a change sends the custom resource an Update, which rotates with the new settings. */
  readonly urlSettings: UrlSettingsProperties;
  /** The IAM identity that signs the tokens. */
  readonly signerArn: string;
  /** A custom role the team grants itself (bootstrap off): the wait fails fast, naming the grant, while DSQL refuses it. */
  readonly roleGrantCheck?: { readonly roleName: string };
}

/**
 * Runs one complete rotation during the first deployment and waits for it,
 * failing the deployment with a clear message if it cannot. Bound services
 * depend on it, so no task ever starts with the placeholder. On a later stack
 * update that changes the URL's settings or the signer (its properties), it
 * rotates again and waits for an AWSCURRENT that carries the new settings,
 * before any bound service updates; other updates do nothing.
 */
export class InitialRotation extends Construct {
  public readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: InitialRotationProps) {
    super(scope, id);
    const timeout = Duration.minutes(10);
    const config: InitialRotationFunctionConfig = {
      secretArn: props.secret.secretArn,
      rotationLogGroupName: props.rotationLogGroupName,
      timeoutSeconds: timeout.toSeconds(),
      signerUserName: props.signer.userName,
      clusterIdentifier: props.cluster.identifier,
      clusterRegion: props.cluster.region,
      redriveAfterSeconds: REDRIVE_AFTER.toSeconds(),
      maxRotationAttempts: MAX_ROTATION_ATTEMPTS,
      roleGrantCheck: props.roleGrantCheck
        ? {
            roleName: props.roleGrantCheck.roleName,
            signerArn: props.signerArn,
            graceSeconds: ROLE_GRANT_GRACE.toSeconds(),
            connectTimeoutSeconds: ROLE_GRANT_CONNECT_TIMEOUT.toSeconds(),
          }
        : null,
    };
    const functionTimeout = timeout.plus(Duration.minutes(1));
    const fn = newHandlerFunction(this, 'Function', {
      bundle: FunctionBundle.INITIAL_ROTATION,
      description: 'Runs the first rotation of the Aurora DSQL URL secret during deployment',
      timeout: functionTimeout,
      // Outside any VPC on purpose: it never connects to DSQL, but must reach
      // CloudFormation's S3 response URL, which a VPC without NAT would block for an hour.
      environment: { [FUNCTION_CONFIG_ENV]: Stack.of(this).toJsonString(config) },
    });
    props.secret.grantRead(fn);
    // UpdateSecretVersionStage clears a failed rotation's AWSPENDING (re-drive); CancelRotateSecret stops rotation before Delete removes keys.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:RotateSecret', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:CancelRotateSecret'],
        resources: [props.secret.secretArn],
      }),
    );
    // The cluster's status, so a peered cluster waiting for its peer (PENDING_SETUP) is named as such.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dsql:GetCluster'], resources: [props.cluster.arn] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.rotationFunction.functionArn] }));
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: fn.functionArn,
      resourceType: 'Custom::DsqlUrlSecretInitialRotation',
      // Without it CloudFormation waits an hour for an answer a crashed function never sends. CloudFormation invokes the
      // function asynchronously and Lambda retries a crash after about a minute: time for one retry to answer, no more.
      serviceTimeout: functionTimeout.plus(functionTimeout).plus(Duration.minutes(2)),
      properties: {
        SecretArn: props.secret.secretArn,
        UrlSettings: props.urlSettings,
        SignerArn: props.signerArn,
      } satisfies InitialRotationProperties,
    });
    props.signer.grantCleanup(fn, this.resource);
  }
}
