import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { DsqlUrlSecret } from '../../lib';
import { actionsOf, ACCOUNT, decide, roleStatements, Statement } from './hardening-support';
import { givenService, givenStack } from './stack-fixture';

const SECRET_ARN = `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:db-url-AbCdEf`;
const EXECUTION_ROLE = `arn:aws:iam::${ACCOUNT}:role/app-execution`;

/**
 * What the ECS agent sends to GetSecretValue for a `valueFrom` (aws/amazon-ecs-agent, agent/taskresource/asmsecret/asmsecret.go,
 * getASMParametersFromInput): the whole ARN when it has no parameters; otherwise the secret's ARN, and VersionStage and
 * VersionId only when `valueFrom` names them (empty segments are left out of the request).
 */
function agentRequest(valueFrom: string): { SecretId: string; VersionStage?: string; VersionId?: string } {
  const parts = valueFrom.split(':');
  const resource = parts.slice(5);
  if (resource.length === 2) return { SecretId: valueFrom };
  if (resource.length !== 5) throw new Error(`an invalid ARN format for the AWS Secrets Manager secret: ${valueFrom}`);
  return { SecretId: parts.slice(0, 7).join(':'), VersionStage: resource[3] || undefined, VersionId: resource[4] || undefined };
}

/** The container's `valueFrom` with the secret's Ref filled in. */
function valueFromOf(stack: Stack): string {
  const definitions = Object.values(Template.fromStack(stack).findResources('AWS::ECS::TaskDefinition')).flatMap(
    (t) => t.Properties.ContainerDefinitions as Array<{ Secrets?: Array<{ ValueFrom: unknown }> }>,
  );
  const join = definitions.flatMap((d) => d.Secrets ?? [])[0].ValueFrom as { 'Fn::Join': [string, unknown[]] };
  return join['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : SECRET_ARN)).join(join['Fn::Join'][0]);
}

/** The execution role's statements on the URL secret, with its Ref filled in. */
function readStatements(stack: Stack, rolePrefix: string): Statement[] {
  return roleStatements(stack, rolePrefix)
    .filter((s) => /^DbSecret/.test((s.Resource as { Ref?: string }).Ref ?? ''))
    .map((s) => ({ ...s, Resource: SECRET_ARN }));
}

const CURRENT_ONLY = {
  StringEqualsIfExists: { 'secretsmanager:VersionStage': 'AWSCURRENT' },
  Null: { 'secretsmanager:VersionId': 'true' },
};

describe('ECS execution roles read AWSCURRENT only', () => {
  test("what the agent asks for ecsSecret()'s valueFrom is AWSCURRENT, allowed; another stage or a version id is not", async () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    db.redeployOnRotation(givenService(stack, ecsCluster, 'App', db.ecsSecret()));
    const statements = readStatements(stack, 'AppTaskExecutionRole');
    expect(statements.map((s) => s.Condition)).toEqual([CURRENT_ONLY]);
    const ask = (request: { VersionStage?: string; VersionId?: string }) => {
      const context: Record<string, string> = {};
      if (request.VersionStage) context['secretsmanager:VersionStage'] = request.VersionStage;
      if (request.VersionId) context['secretsmanager:VersionId'] = request.VersionId;
      return decide({ action: 'secretsmanager:GetSecretValue', resource: SECRET_ARN, roleArn: EXECUTION_ROLE, context }, statements);
    };
    // ecsSecret()'s valueFrom names no stage: the agent sends none, and GetSecretValue answers AWSCURRENT.
    const valueFrom = valueFromOf(stack);
    expect(valueFrom).toBe(`${SECRET_ARN}:url::`);
    expect(agentRequest(valueFrom)).toEqual({ SecretId: SECRET_ARN, VersionStage: undefined, VersionId: undefined });
    expect(await ask(agentRequest(valueFrom))).toBe('Allowed');
    // A task definition that names AWSCURRENT (fromSecretsManagerVersion) reads it too.
    expect(await ask(agentRequest(`${SECRET_ARN}:url:AWSCURRENT:`))).toBe('Allowed');
    for (const other of ['AWSPENDING', 'AWSPREVIOUS'])
      expect(await ask(agentRequest(`${SECRET_ARN}:url:${other}:`))).toBe('ImplicitlyDenied');
    expect(await ask(agentRequest(`${SECRET_ARN}:url::0f6d1bd2-5c55-4bd4-a1a7-6e0c9a2f1c11`))).toBe('ImplicitlyDenied');
    expect(await ask({ VersionStage: 'AWSCURRENT', VersionId: 'an-id' })).toBe('ImplicitlyDenied');
  });

  test('every field reads the current version; consumer discovery accepts it and still refuses another stage', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    for (const field of ['url', 'host', 'password']) expect(db.ecsSecret(field).arn).toMatch(new RegExp(`:${field}::$`));
    db.redeployOnRotation(givenService(stack, ecsCluster, 'App', db.ecsSecret()));
    expect(db.node.validate()).toEqual([]);
    const previous = ecs.Secret.fromSecretsManagerVersion(db.secret, { versionStage: 'AWSPREVIOUS' }, 'url');
    db.redeployOnRotation(givenService(stack, ecsCluster, 'Old', previous));
    expect(() => Template.fromStack(stack)).toThrow(/reads this secret at version stage AWSPREVIOUS/);
  });

  test("a standalone task's execution role gets the same AWSCURRENT-only read, and no other", () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    const job = new ecs.FargateTaskDefinition(stack, 'Migrate');
    job.addContainer('migrate', {
      image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest'),
      secrets: { DATABASE_URL: db.ecsSecret() },
    });
    db.addStandaloneTask(job, { maxRunTime: Duration.minutes(30) });
    const statements = readStatements(stack, 'MigrateExecutionRole');
    expect(statements).toHaveLength(1);
    expect(actionsOf(statements[0])).toContain('secretsmanager:GetSecretValue');
    expect(statements[0].Condition).toEqual(CURRENT_ONLY);
  });
});
