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

describe('ECS execution roles read AWSCURRENT only', () => {
  test("ecsSecret() names AWSCURRENT in valueFrom, so the agent asks for it, and the execution role's grant allows that stage only", async () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    db.redeployOnRotation(givenService(stack, ecsCluster, 'App', db.ecsSecret()));
    const valueFrom = valueFromOf(stack);
    expect(valueFrom).toBe(`${SECRET_ARN}:url:AWSCURRENT:`);
    const sent = agentRequest(valueFrom);
    expect(sent).toEqual({ SecretId: SECRET_ARN, VersionStage: 'AWSCURRENT', VersionId: undefined });

    const statements = readStatements(stack, 'AppTaskExecutionRole');
    expect(statements.map((s) => s.Condition)).toEqual([{ 'ForAnyValue:StringEquals': { 'secretsmanager:VersionStage': ['AWSCURRENT'] } }]);
    const ask = (context: Record<string, string>) =>
      decide({ action: 'secretsmanager:GetSecretValue', resource: SECRET_ARN, roleArn: EXECUTION_ROLE, context }, statements);
    expect(await ask({ 'secretsmanager:VersionStage': sent.VersionStage! })).toBe('Allowed');
    expect(await ask({ 'secretsmanager:VersionStage': 'AWSPENDING' })).toBe('ImplicitlyDenied');
    expect(await ask({ 'secretsmanager:VersionStage': 'AWSPREVIOUS' })).toBe('ImplicitlyDenied');
    expect(await ask({ 'secretsmanager:VersionId': 'a-version-id' })).toBe('ImplicitlyDenied');
    // Why valueFrom must name the stage: without it the agent sends no VersionStage, which the condition refuses.
    expect(agentRequest(`${SECRET_ARN}:url::`).VersionStage).toBeUndefined();
    expect(await ask({})).toBe('ImplicitlyDenied');
  });

  test('every field reads AWSCURRENT; consumer discovery accepts it and still refuses another stage', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    for (const field of ['url', 'host', 'password']) expect(db.ecsSecret(field).arn).toMatch(new RegExp(`:${field}:AWSCURRENT:$`));
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
    expect(statements[0].Condition).toEqual({ 'ForAnyValue:StringEquals': { 'secretsmanager:VersionStage': ['AWSCURRENT'] } });
  });
});
