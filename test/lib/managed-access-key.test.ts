import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { DatabaseRole, DsqlUrlSecret, TokenSigner } from '../../lib';
import { functionConfig } from './function-config';
import { givenService, givenStack } from './stack-fixture';

function policiesOf(stack: Stack, principal: RegExp) {
  const policies = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).filter((p) =>
    JSON.stringify([p.Properties.Roles ?? [], p.Properties.Users ?? [], p.Properties.Groups ?? []]).match(principal),
  );
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>);
}
const actions = (s: { Action: string | string[] }) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('TokenSigner.managedAccessKey()', () => {
  test('creates an IAM user whose only permission, through its group, is to connect to this cluster; no console, no user policy', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.managedAccessKey(), databaseRole: DatabaseRole.custom('app_rw') });
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::IAM::User', 1);
    t.resourceCountIs('AWS::IAM::Group', 1);
    const user = Object.values(t.findResources('AWS::IAM::User'))[0].Properties;
    // No login profile (console password), no policy of its own (Security Hub IAM.2): only the group.
    expect(Object.keys(user).sort()).toEqual(['Groups']);
    expect(user.Groups).toEqual([{ Ref: expect.stringMatching(/^DbSignerGroup/) }]);
    expect(policiesOf(stack, /DbSignerUser/)).toEqual([]);
    expect(Object.keys(t.findResources('AWS::IAM::User', { Properties: { Policies: Match.anyValue() } }))).toEqual([]);
    expect(Object.keys(t.findResources('AWS::IAM::User', { Properties: { ManagedPolicyArns: Match.anyValue() } }))).toEqual([]);
    const groupStatements = policiesOf(stack, /DbSignerGroup/);
    expect(groupStatements).toHaveLength(1);
    expect(groupStatements[0].Action).toBe('dsql:DbConnect');
    expect(JSON.stringify(groupStatements[0].Resource)).toMatch(/:cluster\/.*"Ref":"Cluster/);
  });

  test('is the default signer', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    Template.fromStack(stack).resourceCountIs('AWS::IAM::User', 1);
    expect(functionConfig(stack, 'DbRotationFunction')).toMatchObject({ signer: { kind: 'access-key' } });
    expect(stack.resolve(db.signerArn)).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DbSignerUser/), 'Arn'] });
  });

  test("the rotation function manages that user's keys only, and no longer signs with its own role", () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.managedAccessKey() });
    const fnStatements = policiesOf(stack, /DbRotationFunctionServiceRole/);
    const iamStatement = fnStatements.find((s) => actions(s).includes('iam:CreateAccessKey'))!;
    expect(actions(iamStatement).sort()).toEqual(['iam:CreateAccessKey', 'iam:DeleteAccessKey', 'iam:ListAccessKeys']);
    expect(iamStatement.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DbSignerUser/), 'Arn'] });
    expect(fnStatements.flatMap(actions).filter((a) => a.startsWith('dsql:'))).toEqual([]);
    expect(stack.resolve(db.signerArn)).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DbSignerUser/), 'Arn'] });
    expect(functionConfig(stack, 'DbRotationFunction')).toMatchObject({
      signer: {
        kind: 'access-key',
        userName: { Ref: expect.stringMatching(/^DbSignerUser/) },
        keysSecretArn: { Ref: expect.stringMatching(/^DbSignerKeys/) },
      },
      username: 'admin',
    });
    // Exactly the access-key signer's fields: nothing the role signer's config lacks leaks elsewhere.
    expect(Object.keys(functionConfig(stack, 'DbRotationFunction').signer as object).sort()).toEqual(['keysSecretArn', 'kind', 'userName']);
  });

  test('key material lives in its own secret that denies every principal but the rotation function', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.managedAccessKey() });
    db.redeployOnRotation(givenService(stack, ecsCluster, 'App', db.ecsSecret()));
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::SecretsManager::Secret', 2);
    t.hasResourceProperties('AWS::SecretsManager::ResourcePolicy', {
      SecretId: { Ref: Match.stringLikeRegexp('^DbSignerKeys') },
      ResourcePolicy: {
        Statement: [
          Match.objectLike({
            Effect: 'Deny',
            Action: Match.arrayWith(['secretsmanager:GetSecretValue']),
            Principal: { AWS: '*' },
            Condition: {
              StringNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [Match.stringLikeRegexp('^DbRotationFunctionServiceRole'), 'Arn'] } },
            },
          }),
          // What protects the keys (the policy, the KMS key, replication): lib/keys-secret-policy.ts, test/lib/hardening-keys-secret.test.ts.
          Match.objectLike({ Effect: 'Deny', Action: Match.arrayWith(['secretsmanager:PutResourcePolicy']) }),
        ],
      },
    });
    // The task's execution role may read the URL secret, never the keys secret.
    const execution = JSON.stringify(policiesOf(stack, /AppTaskExecutionRole/));
    expect(execution).toMatch(/DbSecret/);
    expect(execution).not.toMatch(/DbSignerKeys/);
  });

  test('the first-rotation resource is deleted before the user and may remove its keys', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.managedAccessKey() });
    const t = Template.fromStack(stack);
    const custom = Object.values(t.findResources('Custom::DsqlUrlSecretInitialRotation'))[0];
    expect(custom.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^DbSignerUser/)]));
    const cleanup = policiesOf(stack, /DbInitialRotationFunctionServiceRole/).find((s) => actions(s).includes('iam:DeleteAccessKey'))!;
    expect(cleanup.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DbSignerUser/), 'Arn'] });
  });
});
