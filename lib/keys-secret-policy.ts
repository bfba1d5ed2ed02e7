import { CfnDeletionPolicy, DefaultStackSynthesizer, Fn, Stack } from 'aws-cdk-lib/core';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/** What only the rotation function does with the keys: the only reader and writer of the key material (functions/signer.ts). */
export const KEY_MATERIAL_ACTIONS = [
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
];

/**
 * What would open the keys to someone else, and only CloudFormation does (to create, update and delete the stack): the
 * resource policy itself, UpdateSecret (the KMS key, and a value), and replication (a replica promoted to a secret of its
 * own keeps no policy of ours).
 */
export const PROTECTION_ACTIONS = [
  'secretsmanager:PutResourcePolicy',
  'secretsmanager:DeleteResourcePolicy',
  'secretsmanager:UpdateSecret',
  'secretsmanager:ReplicateSecretToRegions',
  'secretsmanager:RemoveRegionsFromReplication',
  'secretsmanager:StopReplicationToReplica',
];

const CLOUDFORMATION = 'cloudformation.amazonaws.com';

/**
 * Closes the signer's keys secret to every principal in any account (an explicit deny in its resource policy beats any
 * allow, however broad, e.g. `secretsmanager:*` on `*`):
 * - reading and writing the key material: all but the rotation function's role (`aws:PrincipalArn`, the role whatever the
 *   session). The watchdog, the first-rotation function and the CLI never read it: they sign nothing with the user's keys.
 * - changing what protects it: all but CloudFormation, which must still update and delete the stack: the stack's
 *   CloudFormation execution role when the synthesizer names one (the default, `cdk bootstrap`'s cfn-exec-role), and
 *   requests CloudFormation makes with the deployer's own credentials (`aws:CalledVia`, e.g. CliCredentialsStackSynthesizer).
 *
 * DeleteSecret stays open: CloudFormation deletes the secret with the stack, whoever deploys it, and deleting it discloses
 * nothing (the tokens already issued keep working; the next createSecret fails loudly, rotationFailedAlarm). The policy
 * resource is retained on delete and replacement: the secret's deletion removes its policy, so the stack never needs
 * DeleteResourcePolicy to go away (not even after the execution role was renamed), and a replacement's delete cannot remove
 * the policy its create has just written (a secret has one policy).
 */
export function closeKeysSecret(keysSecret: secretsmanager.Secret, rotationRole: iam.IRole): void {
  keysSecret.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'KeyMaterialOnlyForTheRotationFunction',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: KEY_MATERIAL_ACTIONS,
      // A resource policy's `*` is the secret it is attached to.
      resources: ['*'],
      conditions: { StringNotEquals: { 'aws:PrincipalArn': rotationRole.roleArn } },
    }),
  );
  const executionRole = cloudFormationExecutionRoleArn(Stack.of(keysSecret));
  keysSecret.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'ProtectionOnlyForCloudFormation',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: PROTECTION_ACTIONS,
      resources: ['*'],
      conditions: {
        // Denied unless CloudFormation called: no CalledVia (vacuously true for ForAllValues), or one without CloudFormation.
        'ForAllValues:StringNotEquals': { 'aws:CalledVia': [CLOUDFORMATION] },
        ...(executionRole ? { StringNotEquals: { 'aws:PrincipalArn': executionRole } } : {}),
      },
    }),
  );
  const policy = keysSecret.node.findChild('Policy').node.defaultChild as secretsmanager.CfnResourcePolicy;
  policy.cfnOptions.deletionPolicy = CfnDeletionPolicy.RETAIN;
  policy.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.RETAIN;
}

/** The role CloudFormation deploys `stack` with (a nested stack's is its top-level stack's), when its synthesizer names one. */
export function cloudFormationExecutionRoleArn(stack: Stack): string | undefined {
  let top = stack;
  while (top.nestedStackParent) top = top.nestedStackParent;
  const synthesizer = top.synthesizer;
  if (!(synthesizer instanceof DefaultStackSynthesizer)) return undefined;
  const arn = synthesizer.cloudFormationExecutionRoleArn as string | undefined;
  // The synthesizer writes `${AWS::AccountId}` and friends for the CLI to fill in; in a template, Fn::Sub does.
  return arn ? Fn.sub(arn) : undefined;
}
