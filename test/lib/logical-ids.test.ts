/**
 * Upgrading the package must not replace what holds state or identity: a new
 * logical id makes CloudFormation create a new resource and delete the old
 * one (a new secret with an empty value, a new signer user, or a Delete of the
 * first-rotation custom resource, which deletes the signer's access keys).
 * The ids below are those of the first release, for a construct with id
 * `DatabaseUrl` at the root of its stack.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { DsqlUrlSecret, TokenSigner } from '../../lib';
import { givenStack } from './stack-fixture';

const FIRST_RELEASE_IDS: Record<string, string> = {
  DatabaseUrlSecret9ED1AE53: 'AWS::SecretsManager::Secret',
  DatabaseUrlSecretRotationSchedule06E15A58: 'AWS::SecretsManager::RotationSchedule',
  DatabaseUrlRotationFunctionCB28BC60: 'AWS::Lambda::Function',
  DatabaseUrlInitialRotationFunctionBDD27A51: 'AWS::Lambda::Function',
  DatabaseUrlInitialRotation5BB80232: 'Custom::DsqlUrlSecretInitialRotation',
  DatabaseUrlWatchdogFunctionA337308E: 'AWS::Lambda::Function',
  DatabaseUrlWatchdogSchedule43DC4B2D: 'AWS::Events::Rule',
};
const ACCESS_KEY_SIGNER_IDS: Record<string, string> = {
  DatabaseUrlSignerUser0DEE775B: 'AWS::IAM::User',
  DatabaseUrlSignerKeys9B8CADB5: 'AWS::SecretsManager::Secret',
};

test.each([
  ['the role signer', TokenSigner.rotationFunctionRole(), FIRST_RELEASE_IDS],
  ['the access-key signer', TokenSigner.managedAccessKey(), { ...FIRST_RELEASE_IDS, ...ACCESS_KEY_SIGNER_IDS }],
])('with %s, the secret, its schedule, the functions, the signer and the first rotation keep their logical ids', (_name, signer, ids) => {
  const { stack, cluster } = givenStack();
  new DsqlUrlSecret(stack, 'DatabaseUrl', { cluster, signer });

  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, { Type: string }>;
  for (const [id, type] of Object.entries(ids)) expect([id, resources[id]?.Type]).toEqual([id, type]);
});
