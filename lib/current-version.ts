import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/** The only version stage the rotation keeps valid, and the only one a task's execution role may read. */
export const CURRENT_STAGE = 'AWSCURRENT';

/** An ECS secret reading `field` of the secret's AWSCURRENT version, whose grant allows that version only (grantCurrentRead). */
export function currentVersionEcsSecret(secret: secretsmanager.ISecret, field: string): ecs.Secret {
  const plain = ecs.Secret.fromSecretsManager(secret, field);
  return { arn: plain.arn, hasField: plain.hasField, grantRead: (grantee: iam.IGrantable) => grantCurrentRead(secret, grantee) };
}

/**
 * Read of the secret's AWSCURRENT version only: a VersionStage, if the request names one, must be AWSCURRENT, and no VersionId
 * may be named; a request with neither gets AWSCURRENT (GetSecretValue's default). So an ECS execution role cannot read
 * AWSPENDING (a token not yet tested), AWSPREVIOUS, or any version by id.
 *
 * Not `ForAnyValue:StringEquals secretsmanager:VersionStage` (what `grantRead(grantee, ['AWSCURRENT'])` writes): a request
 * without VersionStage fails that condition (aws/aws-cli#5031, boto/boto3#2957), and the ECS agent passes VersionStage only
 * when `valueFrom` names a stage (aws/amazon-ecs-agent, agent/taskresource/asmsecret/asmsecret.go, getASMParametersFromInput).
 * Naming it would have worked for that agent, but Fargate's is not public, and a valueFrom changed on upgrade would deny the
 * previous task definition's tasks (a scale-out, a rollback) while the stack update is under way.
 */
export function grantCurrentRead(secret: secretsmanager.ISecret, grantee: iam.IGrantable): iam.Grant {
  const grant = secret.grantRead(grantee);
  const statement = grant.principalStatement ?? grant.resourceStatement;
  statement?.addCondition('StringEqualsIfExists', { 'secretsmanager:VersionStage': CURRENT_STAGE });
  statement?.addCondition('Null', { 'secretsmanager:VersionId': 'true' });
  return grant;
}
