/**
 * The first-rotation custom resource as a deployment shape (issue 9, sections 6 and 7): it cannot
 * hang the stack for an hour, it reads only its own cluster's status, and its function may clear a
 * failed rotation and stop rotation before deleting the signer's keys.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { DsqlUrlSecret, TokenSigner } from '../../lib';
import { functionId } from './function-bundle';
import { givenStack } from './stack-fixture';

/** Every statement of the policies attached to the role of the function whose logical id starts with `fnPrefix`. */
function statementsOf(stack: Stack, fnPrefix: string): Array<{ Action: string | string[]; Resource: unknown }> {
  const t = Template.fromStack(stack);
  const fn = t.findResources('AWS::Lambda::Function')[functionId(stack, fnPrefix)];
  const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) => ((p.Properties.Roles ?? []) as Array<{ Ref: string }>).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

const actionsOf = (s: { Action: string | string[] }) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('first-rotation custom resource', () => {
  test('has a service timeout: a crashed function fails the stack in 24 minutes, not an hour', () => {
    // GIVEN
    const { stack, cluster } = givenStack();
    // WHEN
    new DsqlUrlSecret(stack, 'Db', { cluster });
    // THEN: the function may run 11 minutes; one retry of a crash by Lambda (about a minute later) can still answer.
    const t = Template.fromStack(stack);
    t.hasResourceProperties('Custom::DsqlUrlSecretInitialRotation', { ServiceTimeout: '1440' });
    const fn = t.findResources('AWS::Lambda::Function')[functionId(stack, 'DbInitialRotationFunction')];
    expect(fn.Properties.Timeout).toBe(660);
    expect(1440).toBeLessThan(3600);
    expect(1440).toBeGreaterThanOrEqual(2 * 660 + 60);
  });

  test('may read the status of its own cluster only (dsql:GetCluster on that ARN)', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });

    const getCluster = statementsOf(stack, 'DbInitialRotationFunction').filter((s) => actionsOf(s).some((a) => a.startsWith('dsql:')));
    expect(getCluster).toHaveLength(1);
    expect(actionsOf(getCluster[0])).toEqual(['dsql:GetCluster']);
    expect(JSON.stringify(getCluster[0].Resource)).toMatch(/^\{"Fn::Join":\["",\["arn:",\{"Ref":"AWS::Partition"\},":dsql:eu-west-1:/);
    expect(JSON.stringify(getCluster[0].Resource)).toMatch(/:cluster\/",\{"Ref":"Cluster"\}\]\]\}$/);
    // No other function reads the control plane.
    for (const prefix of ['DbRotationFunction', 'DbWatchdogFunction']) {
      expect(statementsOf(stack, prefix).flatMap(actionsOf)).not.toContain('dsql:GetCluster');
    }
  });

  test('may clear a failed rotation and stop rotation, on its own secret only', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.managedAccessKey() });

    const statement = statementsOf(stack, 'DbInitialRotationFunction').find((s) => actionsOf(s).includes('secretsmanager:RotateSecret'))!;
    expect(actionsOf(statement).sort()).toEqual([
      'secretsmanager:CancelRotateSecret',
      'secretsmanager:RotateSecret',
      'secretsmanager:UpdateSecretVersionStage',
    ]);
    expect(statement.Resource).toEqual({ Ref: expect.stringMatching(/^DbSecret[0-9A-F]+$/) });
  });
});
