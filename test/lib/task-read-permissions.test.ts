import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { DsqlUrlSecret, TokenSigner } from '../../lib';
import { TASK_READ_POLICY_BUDGET } from '../../lib/task-read-permissions';
import { givenService, givenStack } from './stack-fixture';

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };

type Policy = { Properties: { PolicyDocument: { Statement: Statement[] }; Roles: unknown } };

function taskReadPolicy(stack: Stack): Policy | undefined {
  const policies = Template.fromStack(stack).findResources('AWS::IAM::Policy');
  return Object.entries(policies).find(([id]) => /TaskReadPolicy/.test(id))?.[1] as Policy | undefined;
}

/** The statements of the task-read policy, resolved; undefined when there is none. */
function taskReadStatements(stack: Stack): Statement[] | undefined {
  return taskReadPolicy(stack)?.Properties.PolicyDocument.Statement;
}

function taskReadRoles(stack: Stack): unknown {
  return taskReadPolicy(stack)!.Properties.Roles;
}

const json = (v: unknown) => JSON.stringify(v);

describe('task-read policy: the watchdog always, the rotation function only with the access-key signer', () => {
  test('access-key signer: DescribeTasks on task/<cluster>/*, ListTasks only with ecs:cluster naming the clusters', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.managedAccessKey() });
    db.redeployOnRotation(givenService(stack, ecsCluster, 'Api'));
    db.redeployOnRotation(givenService(stack, ecsCluster, 'Worker'));
    const other = new ecs.Cluster(stack, 'Other', { vpc: ecsCluster.vpc, clusterName: 'batch' });
    db.redeployOnRotation(givenService(stack, other, 'Batch'));

    const statements = taskReadStatements(stack)!;
    expect(statements).toHaveLength(2);
    const [describe, list] = statements;
    expect(describe.Action).toBe('ecs:DescribeTasks');
    // One wildcard per distinct cluster: the generated cluster's name (a Ref) and the named one.
    expect(describe.Resource).toHaveLength(2);
    expect(json(describe.Resource)).toContain(':task/');
    const ref = (c: ecs.Cluster) => json({ Ref: stack.getLogicalId(c.node.defaultChild as ecs.CfnCluster) });
    const scoped = (kind: string, c: ecs.Cluster) => `:${kind}/",${ref(c)},"/*"`;
    expect(json(describe.Resource)).toContain(scoped('task', ecsCluster));
    expect(json(describe.Resource)).toContain(scoped('task', other));
    expect(list.Action).toBe('ecs:ListTasks');
    // ListTasks authorizes by the ecs:cluster condition (the form aws-cdk's drain hook uses), not by a resource ARN.
    expect(list.Resource).toBe('*');
    expect(Object.keys(list.Condition as object)).toEqual(['ArnEquals']);
    expect(json(list.Condition)).toContain('"ArnEquals":{"ecs:cluster"');
    expect(json(list.Condition)).toContain(`:cluster/",${ref(other)}`);
    expect(json(list.Condition)).toContain(`:cluster/",${ref(ecsCluster)}`);
  });

  test('rotation-function role signer: only the watchdog reads tasks, not the rotation function (its createSecret deletes no key)', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.rotationFunctionRole() });
    db.redeployOnRotation(givenService(stack, ecsCluster, 'Api'));
    db.redeployOnRotation(givenService(stack, ecsCluster, 'Worker'));

    const roles = json(taskReadRoles(stack));
    expect(roles).toContain(stack.getLogicalId(db.watchdogFunction.role!.node.defaultChild as iam.CfnRole));
    expect(roles).not.toContain(stack.getLogicalId(db.rotationFunction.role!.node.defaultChild as iam.CfnRole));
  });

  test('access-key signer: both the rotation function and the watchdog read tasks', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.managedAccessKey() });
    db.redeployOnRotation(givenService(stack, ecsCluster, 'Api'));

    const roles = json(taskReadRoles(stack));
    expect(roles).toContain(stack.getLogicalId(db.rotationFunction.role!.node.defaultChild as iam.CfnRole));
    expect(roles).toContain(stack.getLogicalId(db.watchdogFunction.role!.node.defaultChild as iam.CfnRole));
  });

  test('no bound service: no task-read policy (an empty one would fail to deploy)', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.managedAccessKey() });

    expect(taskReadStatements(stack)).toBeUndefined();
  });

  test(`clusters that do not fit ${TASK_READ_POLICY_BUDGET} characters: the account and region's tasks and clusters`, () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.managedAccessKey() });
    // CloudFormation-generated names count 255 characters each.
    for (let i = 0; i < 4; i++) {
      const c = new ecs.Cluster(stack, `C${i}`, { vpc: ecsCluster.vpc });
      db.redeployOnRotation(givenService(stack, c, `S${i}`));
    }

    const [describe, list] = taskReadStatements(stack)!;
    expect(json(describe.Resource)).toMatch(/:task\/\*"/);
    expect(list.Resource).toBe('*');
    expect(json(list.Condition)).toMatch(/^\{"ArnLike":\{"ecs:cluster":\{"Fn::Join":.*:cluster\/\*"\]\]\}\}\}$/);
  });
});
