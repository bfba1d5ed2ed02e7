import { SecretValue, Stack } from 'aws-cdk-lib/core';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { closeKeysSecret } from './keys-secret-policy';

export interface ManagedAccessKeyProps {
  readonly clusterArn: string;
  /** `dsql:DbConnectAdmin` or `dsql:DbConnect`. */
  readonly connectAction: string;
  readonly rotationFunction: lambda.Function;
  readonly encryptionKey?: kms.IKey;
}

/**
 * The IAM user that signs tokens with long-term access keys, and the secret
 * that holds its keys. Only the rotation function can read or write that
 * secret, and only CloudFormation can change its policy (lib/keys-secret-policy.ts):
 * neither ECS tasks nor readers of the URL secret can reach the key material.
 *
 * The user has no password (no console access) and no policy of its own: it
 * gets the connect permission from a group (Security Hub IAM.2). Its access
 * keys are created and deleted by the rotation function, at every rotation.
 */
export class ManagedAccessKey extends Construct {
  public readonly user: iam.User;
  public readonly group: iam.Group;
  public readonly keysSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: ManagedAccessKeyProps) {
    super(scope, id);
    this.group = new iam.Group(this, 'Group');
    this.group.addToPolicy(new iam.PolicyStatement({ actions: [props.connectAction], resources: [props.clusterArn] }));
    // No password: CloudFormation creates no login profile, so the user cannot sign in to the console.
    this.user = new iam.User(this, 'User', { groups: [this.group] });

    this.keysSecret = new secretsmanager.Secret(this, 'Keys', {
      description: 'Access keys of the IAM user that signs Aurora DSQL tokens; read only by the rotation function',
      encryptionKey: props.encryptionKey,
      secretStringValue: SecretValue.unsafePlainText(JSON.stringify({ keys: [] })),
    });
    closeKeysSecret(this.keysSecret, props.rotationFunction.role!);
    // What functions/signer.ts calls on the keys; grantRead and grantWrite would add DescribeSecret, UpdateSecret and
    // UpdateSecretVersionStage, which nothing calls (test/iam/least-privilege.test.ts records every call).
    props.rotationFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
        resources: [this.keysSecret.secretArn],
      }),
    );
    // A customer managed key: through Secrets Manager only, as grantRead and grantWrite would give it.
    const viaSecretsManager = `secretsmanager.${Stack.of(this).region}.amazonaws.com`;
    props.encryptionKey?.grantEncryptDecrypt(new kms.ViaServicePrincipal(viaSecretsManager, props.rotationFunction.grantPrincipal));
    props.rotationFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:CreateAccessKey', 'iam:DeleteAccessKey', 'iam:ListAccessKeys'],
        resources: [this.user.userArn],
      }),
    );
  }
}
