import { Stack } from 'aws-cdk-lib/core';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** The id of the rotation function's invoke permission for Secrets Manager (a child of the function). */
const INVOKE_PERMISSION_ID = 'SecretsManagerRotationInvoke';

/**
 * A view of `fn` that `secret.addRotationSchedule()` grants nothing to. For a function it owns, CDK's RotationSchedule adds an
 * invoke permission for secretsmanager.amazonaws.com without `aws:SourceArn` or `aws:SourceAccount` (any secret in any account
 * could name the function as its rotation function), and `secretsmanager:GetRandomPassword` on `*`, which no handler calls; for
 * an imported function it adds neither (nor anything else), and grantRotation() adds what rotation needs.
 */
export function rotationFunctionReference(scope: Construct, fn: lambda.IFunction): lambda.IFunction {
  return lambda.Function.fromFunctionAttributes(scope, 'RotationFunctionReference', {
    functionArn: fn.functionArn,
    sameEnvironment: true,
    skipPermissions: true,
  });
}

/**
 * What CDK's RotationSchedule grants a rotation function it owns, without what rotationFunctionReference() explains: Secrets
 * Manager may invoke `fn` only to rotate `secret` (`aws:SourceArn`) in this account (`aws:SourceAccount`, the confused-deputy
 * guard AWS recommends for service principals; with aws:SourceArn "the rotation function can only be used to rotate the secret
 * specified by that ARN", Secrets Manager user guide, rotating-secrets-required-permissions-function: this one rotates no other
 * secret); the four rotation actions on the secret; with a customer managed key, its use
 * through Secrets Manager only. `schedule` waits for the invoke permission: Secrets Manager checks it when rotation is set up.
 */
export function grantRotation(fn: lambda.IFunction, secret: secretsmanager.ISecret, schedule: Construct): void {
  fn.addPermission(INVOKE_PERMISSION_ID, {
    principal: new iam.ServicePrincipal('secretsmanager.amazonaws.com'),
    action: 'lambda:InvokeFunction',
    sourceArn: secret.secretArn,
    sourceAccount: Stack.of(secret).account,
  });
  const permission = fn.permissionsNode.tryFindChild(INVOKE_PERMISSION_ID);
  if (permission) schedule.node.addDependency(permission);
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: [
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
        'secretsmanager:PutSecretValue',
        'secretsmanager:UpdateSecretVersionStage',
      ],
      resources: [secret.secretFullArn ?? `${secret.secretArn}-??????`],
    }),
  );
  const key = secret.encryptionKey;
  if (key) {
    key.grantEncryptDecrypt(new kms.ViaServicePrincipal(`secretsmanager.${Stack.of(secret).region}.amazonaws.com`, fn.grantPrincipal));
  }
}
