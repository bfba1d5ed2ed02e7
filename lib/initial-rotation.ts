import { CustomResource, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { InitialRotationProperties, UrlSettingsProperties } from './configuration-change';
import { FUNCTION_CONFIG_ENV, InitialRotationFunctionConfig } from './contract';
import { FunctionBundle } from './contract';
import { newHandlerFunction } from './handler-function';
import { FirstRotationSigner } from './token-signer-binding';

export interface InitialRotationProps {
  readonly secret: secretsmanager.ISecret;
  readonly rotationFunction: lambda.IFunction;
  /** The signer's part: the IAM user whose Lambda-created access keys must go before CloudFormation deletes it, if any. */
  readonly signer: FirstRotationSigner;
  /** What the URL is made of: a change sends the custom resource an Update, which rotates with the new settings. */
  readonly urlSettings: UrlSettingsProperties;
  /** The IAM identity that signs the tokens. */
  readonly signerArn: string;
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
      timeoutSeconds: timeout.toSeconds(),
      signerUserName: props.signer.userName,
    };
    const fn = newHandlerFunction(this, 'Function', {
      bundle: FunctionBundle.INITIAL_ROTATION,
      description: 'Runs the first rotation of the Aurora DSQL URL secret during deployment',
      timeout: timeout.plus(Duration.minutes(1)),
      // Outside any VPC on purpose: it never connects to DSQL, but must reach
      // CloudFormation's S3 response URL, which a VPC without NAT would block for an hour.
      environment: { [FUNCTION_CONFIG_ENV]: Stack.of(this).toJsonString(config) },
    });
    props.secret.grantRead(fn);
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['secretsmanager:RotateSecret'], resources: [props.secret.secretArn] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.rotationFunction.functionArn] }));
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: fn.functionArn,
      resourceType: 'Custom::DsqlUrlSecretInitialRotation',
      properties: {
        SecretArn: props.secret.secretArn,
        UrlSettings: props.urlSettings,
        SignerArn: props.signerArn,
      } satisfies InitialRotationProperties,
    });
    props.signer.grantCleanup(fn, this.resource);
  }
}
