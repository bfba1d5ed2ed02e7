import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { FunctionBundle } from '../../lib/contract';
import { DatabaseRole, DsqlUrlSecret, TokenSigner } from '../../lib';
import { bundleOfFunction, functionId } from './function-bundle';
import { CONFIG_FIELDS, functionConfig } from './function-config';
import { givenService, givenStack } from './stack-fixture';

const BOOTSTRAP = 'Custom::DsqlUrlSecretRoleBootstrap';
const FIRST_ROTATION = 'Custom::DsqlUrlSecretInitialRotation';

type Statement = { Action: string | string[]; Resource: unknown };
/** The statements of the inline policies attached to the role whose logical id starts with `rolePrefix` (not a group's). */
function statementsOfRole(stack: Stack, rolePrefix: string): Statement[] {
  const policies = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'));
  return policies
    .filter((p) => ((p.Properties.Roles ?? []) as Array<{ Ref: string }>).some((r) => r.Ref.startsWith(rolePrefix)))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}
const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const dsqlActions = (statements: Statement[]) => statements.flatMap(actionsOf).filter((a) => a.startsWith('dsql:'));
const resourcesOf = (stack: Stack, type: string) => Object.entries(Template.fromStack(stack).findResources(type));

describe('custom database role: the bootstrap before the first rotation', () => {
  test('a custom role gets a bootstrap custom resource, run by its own role-bootstrap function', () => {
    // GIVEN
    const { stack, cluster } = givenStack();
    // WHEN
    new DsqlUrlSecret(stack, 'Db', { cluster, databaseRole: DatabaseRole.custom('app_rw') });
    // THEN
    const [[, bootstrap]] = resourcesOf(stack, BOOTSTRAP);
    expect(bootstrap.Properties.ServiceToken).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DbRoleBootstrapFunction/), 'Arn'] });
    const fnId = functionId(stack, 'DbRoleBootstrapFunction');
    expect(bundleOfFunction(stack, fnId)).toBe(FunctionBundle.ROLE_BOOTSTRAP);
    const fn = Template.fromStack(stack).findResources('AWS::Lambda::Function')[fnId];
    expect(fn.Properties).toMatchObject({ Handler: 'index.handler', Timeout: 80 });
    // Outside any VPC, like the first-rotation function: it must reach CloudFormation's response URL.
    expect(fn.Properties.VpcConfig).toBeUndefined();
  });

  test('none for the admin role, none with bootstrap: false', () => {
    const admin = givenStack();
    new DsqlUrlSecret(admin.stack, 'Db', { cluster: admin.cluster });
    const optOut = givenStack();
    new DsqlUrlSecret(optOut.stack, 'Db', { cluster: optOut.cluster, databaseRole: DatabaseRole.custom('app_rw', { bootstrap: false }) });
    for (const { stack } of [admin, optOut]) {
      expect(resourcesOf(stack, BOOTSTRAP)).toEqual([]);
      expect(() => functionId(stack, 'DbRoleBootstrapFunction')).toThrow(/got none/);
      expect(statementsOfRole(stack, 'DbRoleBootstrap')).toEqual([]);
    }
  });

  test('its only DSQL permission is dsql:DbConnectAdmin on this cluster; the rotation function still signs with DbConnect only', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.rotationFunctionRole(), databaseRole: DatabaseRole.custom('app_rw') });
    const bootstrap = statementsOfRole(stack, 'DbRoleBootstrapFunction');
    // Besides writing to its own log group (test/lib/handler-function.test.ts).
    expect(bootstrap).toEqual([
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: expect.anything() },
      { Effect: 'Allow', Action: 'dsql:DbConnectAdmin', Resource: expect.anything() },
    ]);
    expect(JSON.stringify(bootstrap[1].Resource)).toMatch(/:dsql:eu-west-1:.*:cluster\/.*"Ref":"Cluster/);
    expect(dsqlActions(statementsOfRole(stack, 'DbRotationFunction'))).toEqual(['dsql:DbConnect']);
    // No other role in the stack may connect as admin.
    const admins = resourcesOf(stack, 'AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p).includes('dsql:DbConnectAdmin'));
    expect(admins.map(([id]) => id)).toEqual([expect.stringMatching(/^DbRoleBootstrapFunctionServiceRoleDefaultPolicy/)]);
  });

  test('order: bootstrap, then the first rotation, then the bound services', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, databaseRole: DatabaseRole.custom('app_rw') });
    db.redeployOnRotation(givenService(stack, ecsCluster, 'App', db.ecsSecret()));
    const [[bootstrapId]] = resourcesOf(stack, BOOTSTRAP);
    const [[firstId, first]] = resourcesOf(stack, FIRST_ROTATION);
    expect(first.DependsOn).toContain(bootstrapId);
    const [[, service]] = resourcesOf(stack, 'AWS::ECS::Service');
    expect(service.DependsOn).toContain(firstId);
    // The bootstrap waits for nothing of the first rotation (no cycle).
    const [[, bootstrap]] = resourcesOf(stack, BOOTSTRAP);
    expect(JSON.stringify(bootstrap)).not.toContain(firstId);
  });

  test('its configuration: the endpoint, the role, the signer (the rotation role or the managed user) and the grants', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', {
      cluster,
      signer: TokenSigner.rotationFunctionRole(),
      database: 'appdb',
      databaseRole: DatabaseRole.custom('app_rw', { grants: ['usage on schema app', 'SELECT ON ALL TABLES IN SCHEMA app'] }),
    });
    const cfg = functionConfig(stack, 'DbRoleBootstrapFunction');
    expect(Object.keys(cfg).sort()).toEqual(CONFIG_FIELDS.roleBootstrap);
    expect(cfg).toEqual({
      host: { 'Fn::Join': ['', [{ Ref: 'Cluster' }, '.dsql.eu-west-1.on.aws']] },
      port: 5432,
      region: 'eu-west-1',
      database: 'appdb',
      roleName: 'app_rw',
      signerArn: { 'Fn::GetAtt': [expect.stringMatching(/^DbRotationFunctionServiceRole/), 'Arn'] },
      grants: ['USAGE ON SCHEMA app', 'SELECT ON ALL TABLES IN SCHEMA app'],
      connectTimeoutSeconds: 10,
    });
    // A change of any of them runs the bootstrap again (an Update), before the first-rotation resource's own Update.
    const [[, bootstrap]] = resourcesOf(stack, BOOTSTRAP);
    expect(bootstrap.Properties).toEqual({
      ServiceToken: expect.anything(),
      Host: cfg.host,
      RoleName: 'app_rw',
      SignerArn: cfg.signerArn,
      Grants: cfg.grants,
    });

    // The default signer: the managed user.
    const withKey = givenStack();
    new DsqlUrlSecret(withKey.stack, 'Db', { cluster: withKey.cluster, databaseRole: DatabaseRole.custom('app_rw') });
    expect(functionConfig(withKey.stack, 'DbRoleBootstrapFunction').signerArn).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^DbSignerUser/), 'Arn'],
    });
  });

  test('grants are validated at synth, through the public API, naming the prop and the fix', () => {
    const { stack, cluster } = givenStack();
    expect(
      () =>
        new DsqlUrlSecret(stack, 'Db', {
          cluster,
          databaseRole: DatabaseRole.custom('app_rw', { grants: ["SELECT ON app.t TO public; DROP ROLE 'admin'"] }),
        }),
    ).toThrow(
      /^DatabaseRole\.custom\('app_rw', \{ grants \}\): grant 1 .* is refused: it contains a semicolon.*Write it as '<privileges> ON <object>'/,
    );
    expect(() => DatabaseRole.custom('app_rw', { grants: ['SELECT ON SCHEMA app'] })).toThrow(
      /grant 1 'SELECT ON SCHEMA app' is refused: SELECT is not a privilege SCHEMA takes \(USAGE, CREATE or ALL\)/,
    );
  });
});

describe('custom database role with bootstrap: false', () => {
  test("the signer's ARN is a stack output, described with the grant to run", () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, databaseRole: DatabaseRole.custom('app_rw', { bootstrap: false }) });
    const outputs = Object.entries(Template.fromStack(stack).findOutputs('*'));
    expect(outputs).toEqual([
      [
        expect.stringMatching(/^DbSignerArn/),
        {
          // The default signer: the managed user.
          Value: { 'Fn::GetAtt': [expect.stringMatching(/^DbSignerUser/), 'Arn'] },
          Description: "The identity that signs the URL's tokens: as admin, run AWS IAM GRANT app_rw TO '<this ARN>';",
        },
      ],
    ]);
    // Nothing in the stack may connect as admin.
    expect(JSON.stringify(Template.fromStack(stack).toJSON())).not.toContain('dsql:DbConnectAdmin');
  });

  test("the first rotation checks the role's grant, to fail fast with the line to run; not with the bootstrap or for admin", () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, databaseRole: DatabaseRole.custom('app_rw', { bootstrap: false }) });
    expect(functionConfig(stack, 'DbInitialRotationFunction').roleGrantCheck).toEqual({
      roleName: 'app_rw',
      signerArn: { 'Fn::GetAtt': [expect.stringMatching(/^DbSignerUser/), 'Arn'] },
      graceSeconds: 45,
      connectTimeoutSeconds: 10,
    });
    for (const databaseRole of [DatabaseRole.ADMIN, DatabaseRole.custom('app_rw')]) {
      const other = givenStack();
      new DsqlUrlSecret(other.stack, 'Db', { cluster: other.cluster, databaseRole });
      expect(functionConfig(other.stack, 'DbInitialRotationFunction').roleGrantCheck).toBeNull();
    }
  });

  test('no output for the admin role or a bootstrapped custom role', () => {
    for (const databaseRole of [DatabaseRole.ADMIN, DatabaseRole.custom('app_rw')]) {
      const { stack, cluster } = givenStack();
      new DsqlUrlSecret(stack, 'Db', { cluster, databaseRole });
      expect(Template.fromStack(stack).findOutputs('*')).toEqual({});
    }
  });
});
