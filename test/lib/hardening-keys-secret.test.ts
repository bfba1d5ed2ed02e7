import { App, CliCredentialsStackSynthesizer, NestedStack, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import { DsqlUrlSecret } from '../../lib';
import { KEY_MATERIAL_ACTIONS, PROTECTION_ACTIONS } from '../../lib/keys-secret-policy';
import { ACCOUNT, decide, Statement } from './hardening-support';
import { givenStack } from './stack-fixture';

const KEYS_ARN = `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:keys-AbCdEf`;
const ROTATION_ROLE = `arn:aws:iam::${ACCOUNT}:role/rotation-role`;
const EXECUTION_ROLE = `arn:aws:iam::${ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-eu-west-1`;
const ADMIN = `arn:aws:iam::${ACCOUNT}:role/admin`;
/** An identity policy as broad as an administrator's: only the resource policy can stop the request. */
const EVERYTHING: Statement[] = [{ Effect: 'Allow', Action: 'secretsmanager:*', Resource: '*' }];

/** The keys secret's resource policy, with the rotation role's ARN and the partition filled in as AWS would. */
function keysPolicy(stack: Stack): { statements: Statement[]; resource: { DeletionPolicy?: string; UpdateReplacePolicy?: string } } {
  const policies = Object.values(Template.fromStack(stack).findResources('AWS::SecretsManager::ResourcePolicy')).filter((p) =>
    JSON.stringify(p.Properties.SecretId).includes('DbSignerKeys'),
  );
  expect(policies).toHaveLength(1);
  const concrete = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(concrete);
    if (value && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      const att = o['Fn::GetAtt'] as string[] | undefined;
      if (att && /^DbRotationFunctionServiceRole/.test(att[0]) && att[1] === 'Arn') return ROTATION_ROLE;
      if (typeof o['Fn::Sub'] === 'string') return (o['Fn::Sub'] as string).replace('${AWS::Partition}', 'aws');
      return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, concrete(v)]));
    }
    return value;
  };
  const statements = (policies[0].Properties.ResourcePolicy.Statement as Statement[]).map((s) => ({
    ...(concrete(s) as Statement),
    Resource: KEYS_ARN,
  }));
  return { statements, resource: policies[0] };
}

const ask = (statements: Statement[], roleArn: string, action: string, context: Record<string, string[]> = {}) =>
  decide({ action, resource: KEYS_ARN, roleArn, context }, EVERYTHING, statements);

describe("the signer's keys secret", () => {
  test('only the rotation function reads and writes the key material; not even an administrator or CloudFormation', async () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const { statements } = keysPolicy(stack);
    for (const action of KEY_MATERIAL_ACTIONS) {
      expect(await ask(statements, ROTATION_ROLE, action)).toBe('Allowed');
      expect(await ask(statements, ADMIN, action)).toBe('ExplicitlyDenied');
      expect(await ask(statements, EXECUTION_ROLE, action)).toBe('ExplicitlyDenied');
      expect(await ask(statements, ADMIN, action, { 'aws:CalledVia': ['cloudformation.amazonaws.com'] })).toBe('ExplicitlyDenied');
    }
  });

  test('only CloudFormation changes its policy, key or replication: its execution role, or a deployer through CloudFormation', async () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const { statements } = keysPolicy(stack);
    for (const action of PROTECTION_ACTIONS) {
      expect(await ask(statements, EXECUTION_ROLE, action)).toBe('Allowed');
      expect(await ask(statements, ADMIN, action, { 'aws:CalledVia': ['cloudformation.amazonaws.com'] })).toBe('Allowed');
      expect(await ask(statements, ADMIN, action)).toBe('ExplicitlyDenied');
      expect(await ask(statements, ADMIN, action, { 'aws:CalledVia': ['athena.amazonaws.com'] })).toBe('ExplicitlyDenied');
      expect(await ask(statements, ROTATION_ROLE, action)).toBe('ExplicitlyDenied');
    }
  });

  test('the stack stays deletable: DeleteSecret is open, and the policy resource is retained so no DeleteResourcePolicy is needed', async () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const { statements, resource } = keysPolicy(stack);
    for (const who of [ADMIN, EXECUTION_ROLE]) {
      expect(await ask(statements, who, 'secretsmanager:DeleteSecret')).toBe('Allowed');
      expect(await ask(statements, who, 'secretsmanager:DescribeSecret')).toBe('Allowed');
    }
    expect(resource.DeletionPolicy).toBe('Retain');
    expect(resource.UpdateReplacePolicy).toBe('Retain');
    // The secret itself goes with the stack, and its policy with it.
    const keys = Object.entries(Template.fromStack(stack).findResources('AWS::SecretsManager::Secret')).find(([id]) =>
      id.startsWith('DbSignerKeys'),
    );
    expect(keys?.[1].DeletionPolicy).toBe('Delete');
  });

  test("a stack in a NestedStack exempts its top-level stack's execution role", () => {
    const app = new App();
    const parent = new Stack(app, 'Parent', { env: { account: ACCOUNT, region: 'eu-west-1' } });
    const nested = new NestedStack(parent, 'Nested');
    new DsqlUrlSecret(nested, 'Db', { cluster: new dsql.CfnCluster(nested, 'Cluster', {}) });
    const policy = JSON.stringify(Template.fromStack(nested).findResources('AWS::SecretsManager::ResourcePolicy'));
    expect(policy).toContain(`cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-eu-west-1`);
  });

  test('without an execution role (CliCredentialsStackSynthesizer), CloudFormation with the deployer credentials only', async () => {
    const app = new App();
    const stack = new Stack(app, 'Cli', {
      env: { account: ACCOUNT, region: 'eu-west-1' },
      synthesizer: new CliCredentialsStackSynthesizer(),
    });
    new DsqlUrlSecret(stack, 'Db', { cluster: new dsql.CfnCluster(stack, 'Cluster', {}) });
    const { statements } = keysPolicy(stack);
    expect(JSON.stringify(statements)).not.toContain('cfn-exec-role');
    expect(await ask(statements, ADMIN, 'secretsmanager:PutResourcePolicy', { 'aws:CalledVia': ['cloudformation.amazonaws.com'] })).toBe(
      'Allowed',
    );
    expect(await ask(statements, ADMIN, 'secretsmanager:PutResourcePolicy')).toBe('ExplicitlyDenied');
    expect(await ask(statements, ADMIN, 'secretsmanager:GetSecretValue', { 'aws:CalledVia': ['cloudformation.amazonaws.com'] })).toBe(
      'ExplicitlyDenied',
    );
  });
});
