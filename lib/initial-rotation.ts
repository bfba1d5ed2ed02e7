import { CustomResource, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { InitialRotationEnv, SignerEnv, WatchdogEnv } from './contract';
import { FunctionBundle } from './contract';
import { newHandlerFunction } from './handler-function';

export interface InitialRotationProps {
  readonly secret: secretsmanager.ISecret;
  readonly rotationFunction: lambda.IFunction;
  /** The signing IAM user, whose Lambda-created access keys must go before CloudFormation deletes it. */
  readonly signerUser?: iam.IUser;
}

/**
 * Runs one complete rotation during the first deployment and waits for it,
 * failing the deployment with a clear message if it cannot. Bound services
 * depend on it, so no task ever starts with the placeholder. On later stack
 * updates the secret already holds a URL and nothing happens.
 */
export class InitialRotation extends Construct {
  public readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: InitialRotationProps) {
    super(scope, id);
    const timeout = Duration.minutes(10);
    const fn = newHandlerFunction(this, 'Function', {
      bundle: FunctionBundle.INITIAL_ROTATION,
      description: 'Runs the first rotation of the Aurora DSQL URL secret during deployment',
      timeout: timeout.plus(Duration.minutes(1)),
      // Outside any VPC on purpose: it never connects to DSQL, but must reach
      // CloudFormation's S3 response URL, which a VPC without NAT would block for an hour.
      environment: {
        [WatchdogEnv.SECRET_ARN]: props.secret.secretArn,
        [InitialRotationEnv.TIMEOUT_SECONDS]: String(timeout.toSeconds()),
        ...(props.signerUser ? { [SignerEnv.SIGNER_USER_NAME]: props.signerUser.userName } : {}),
      },
    });
    props.secret.grantRead(fn);
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['secretsmanager:RotateSecret'], resources: [props.secret.secretArn] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.rotationFunction.functionArn] }));
    if (props.signerUser) {
      fn.addToRolePolicy(new iam.PolicyStatement({
        actions: ['iam:ListAccessKeys', 'iam:DeleteAccessKey'],
        resources: [props.signerUser.userArn],
      }));
    }
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: fn.functionArn,
      resourceType: 'Custom::DsqlUrlSecretInitialRotation',
      properties: { SecretArn: props.secret.secretArn },
    });
    // Deleted before the user, so its access keys can be removed first.
    if (props.signerUser) this.resource.node.addDependency(props.signerUser);
  }
}
