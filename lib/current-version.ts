import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/** The only version stage the rotation keeps valid, and the only one a task's execution role may read. */
export const CURRENT_STAGE = 'AWSCURRENT';

/**
 * An ECS secret reading `field` of the AWSCURRENT version, whose grant lets the execution role read that stage only
 * (grantCurrentRead). `valueFrom` names the stage (`<arn>:<field>:AWSCURRENT:`) because the ECS agent passes VersionStage to
 * GetSecretValue only when `valueFrom` names one (aws/amazon-ecs-agent, agent/taskresource/asmsecret/asmsecret.go,
 * getASMParametersFromInput), and a request without VersionStage fails a `secretsmanager:VersionStage` condition
 * (aws/aws-cli#5031, boto/boto3#2957). Fargate's agent is not public: it reads a named stage as the ECS documentation
 * describes, which it can only do by passing VersionStage.
 */
export function currentVersionEcsSecret(secret: secretsmanager.ISecret, field: string): ecs.Secret {
  const versioned = ecs.Secret.fromSecretsManagerVersion(secret, { versionStage: CURRENT_STAGE }, field);
  return { arn: versioned.arn, hasField: versioned.hasField, grantRead: (grantee: iam.IGrantable) => grantCurrentRead(secret, grantee) };
}

/**
 * Read of the secret's AWSCURRENT version only (`ForAnyValue:StringEquals secretsmanager:VersionStage`): an ECS execution role
 * cannot read AWSPENDING (a token not yet tested) nor a version by id. DescribeSecret carries no stage, so the statement does
 * not allow it (the agent never calls it).
 */
export function grantCurrentRead(secret: secretsmanager.ISecret, grantee: iam.IGrantable): iam.Grant {
  return secret.grantRead(grantee, [CURRENT_STAGE]);
}
