import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as kms from 'aws-cdk-lib/aws-kms';
import { DsqlUrlSecret } from '../../lib';
import { ROTATION_TAG_KEYS, SecretTag } from '../../lib/secret-tags';
import { actionsOf, ACCOUNT, allStatements, decide, roleStatements, withResource } from './hardening-support';
import { givenStack } from './stack-fixture';

const SECRET_ARN = `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:db-url-AbCdEf`;
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/rotation`;

describe('the rotation function is invoked by Secrets Manager for this secret only', () => {
  test('the one invoke permission for secretsmanager.amazonaws.com names this secret (aws:SourceArn) and this account', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const t = Template.fromStack(stack);
    const permissions = Object.entries(t.findResources('AWS::Lambda::Permission')).filter(
      ([, p]) => p.Properties.Principal === 'secretsmanager.amazonaws.com',
    );
    expect(permissions).toHaveLength(1);
    const [id, permission] = permissions[0];
    expect(permission.Properties).toEqual({
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [expect.stringMatching(/^DbRotationFunction[0-9A-F]{8}$/), 'Arn'] },
      Principal: 'secretsmanager.amazonaws.com',
      SourceArn: { Ref: expect.stringMatching(/^DbSecret[0-9A-F]{8}$/) },
      SourceAccount: ACCOUNT,
    });
    // Secrets Manager checks the permission when rotation is set up: the schedule waits for it.
    const schedule = Object.values(t.findResources('AWS::SecretsManager::RotationSchedule'))[0];
    expect(schedule.DependsOn).toContain(id);
  });

  test('in an environment-agnostic stack, the account is the deployment account', () => {
    const app = new App();
    const stack = new Stack(app, 'Agnostic');
    new DsqlUrlSecret(stack, 'Db', { cluster: new dsql.CfnCluster(stack, 'Cluster', {}) });
    const permission = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Permission')).find(
      (p) => p.Properties.Principal === 'secretsmanager.amazonaws.com',
    );
    expect(permission?.Properties.SourceAccount).toEqual({ Ref: 'AWS::AccountId' });
    expect(permission?.Properties.SourceArn).toEqual({ Ref: expect.stringMatching(/^DbSecret/) });
  });
});

describe('the rotation role', () => {
  test('has no secretsmanager:GetRandomPassword (no handler generates a password) and keeps the four rotation actions on the secret', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    expect(allStatements(stack).flatMap(actionsOf)).not.toContain('secretsmanager:GetRandomPassword');
    const onSecret = roleStatements(stack, 'DbRotationFunctionServiceRole').filter((s) =>
      /^DbSecret[0-9A-F]{8}$/.test((s.Resource as { Ref?: string }).Ref ?? ''),
    );
    const rotation = onSecret.find((s) => actionsOf(s).includes('secretsmanager:PutSecretValue'));
    expect(actionsOf(rotation!).sort()).toEqual([
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
    ]);
    expect(rotation!.Resource).toEqual({ Ref: expect.stringMatching(/^DbSecret/) });
  });

  test('uses a customer managed key of the secret through Secrets Manager only', () => {
    const { stack, cluster } = givenStack();
    const encryptionKey = new kms.Key(stack, 'Key');
    new DsqlUrlSecret(stack, 'Db', { cluster, encryptionKey });
    const keyPolicy = Template.fromStack(stack).findResources('AWS::KMS::Key');
    const grants = [
      ...roleStatements(stack, 'DbRotationFunctionServiceRole'),
      ...Object.values(keyPolicy)[0].Properties.KeyPolicy.Statement,
    ]
      .filter((s) => actionsOf(s).includes('kms:Encrypt') && JSON.stringify(s).includes('secretsmanager.eu-west-1.amazonaws.com'))
      .filter((s) => JSON.stringify(s.Principal ?? s.Resource).match(/DbRotationFunctionServiceRole|Key/));
    expect(grants.length).toBeGreaterThan(0);
    expect(grants.every((s) => JSON.stringify(s.Condition).includes('kms:ViaService'))).toBe(true);
  });

  test('may tag and untag the secret with the rotation tag keys only, and not without naming keys', async () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const tagging = roleStatements(stack, 'DbRotationFunctionServiceRole').filter((s) =>
      actionsOf(s).some((a) => a === 'secretsmanager:TagResource' || a === 'secretsmanager:UntagResource'),
    );
    expect(tagging).toHaveLength(1);
    expect(tagging[0].Resource).toEqual({ Ref: expect.stringMatching(/^DbSecret/) });
    const policy = withResource(tagging, SECRET_ARN);
    const request = (action: string, keys?: string[]) =>
      decide({ action, resource: SECRET_ARN, roleArn: ROLE_ARN, context: keys ? { 'aws:TagKeys': keys } : {} }, policy);
    for (const action of ['secretsmanager:TagResource', 'secretsmanager:UntagResource']) {
      expect(await request(action, [...ROTATION_TAG_KEYS])).toBe('Allowed');
      expect(await request(action, [ROTATION_TAG_KEYS[0]])).toBe('Allowed');
      expect(await request(action, [SecretTag.MANAGED_BY])).toBe('ImplicitlyDenied');
      expect(await request(action, [ROTATION_TAG_KEYS[1], 'team'])).toBe('ImplicitlyDenied');
      expect(await request(action)).toBe('ImplicitlyDenied');
    }
  });
});
