import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { FunctionBundle } from '../../lib/contract';
import { DatabaseRole, DsqlUrlSecret, DsqlUrlSecretProps, TokenSigner } from '../../lib';
import { bundleOfFunction, functionId } from './function-bundle';
import { givenStack } from './stack-fixture';

type Ref = { Ref: string };
type Statement = { Effect: string; Action: string | string[]; Resource: unknown };
/** The properties these tests read, of functions, roles, policies and log groups. */
interface Properties {
  readonly Role: { 'Fn::GetAtt': [string, string] };
  readonly LoggingConfig?: { LogGroup?: Ref };
  readonly RetentionInDays?: number;
  readonly ManagedPolicyArns?: unknown[];
  readonly Roles?: Ref[];
  readonly PolicyDocument: { Statement: Statement[] };
}
type Resource = { Type: string; Properties: Properties; DeletionPolicy?: string; UpdateReplacePolicy?: string };

/** Every function, role and policy of a stack with one construct, with the settings the test names. */
function synthesized(settings: Partial<DsqlUrlSecretProps> = {}, withVpc = false): { stack: Stack; resources: Record<string, Resource> } {
  const { stack, cluster } = givenStack();
  const vpc = withVpc ? new ec2.Vpc(stack, 'FunctionVpc', { maxAzs: 1, natGateways: 1 }) : undefined;
  new DsqlUrlSecret(stack, 'DatabaseUrl', { cluster, databaseRole: DatabaseRole.custom('app_rw'), vpc, ...settings });
  return { stack, resources: Template.fromStack(stack).toJSON().Resources };
}

function ofType(resources: Record<string, Resource>, type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

/** The statements of the policies attached to the role with this logical id. */
function statementsOf(resources: Record<string, Resource>, roleId: string): Statement[] {
  return ofType(resources, 'AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties.Roles ?? []).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
}

const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

describe('function bundles', () => {
  test('each function deploys its own bundle and runs its index.handler', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.managedAccessKey() });
    const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
    const expected = {
      DbRotationFunction: FunctionBundle.ROTATION,
      DbWatchdogFunction: FunctionBundle.WATCHDOG,
      DbInitialRotationFunction: FunctionBundle.INITIAL_ROTATION,
    };
    const keys = new Set<string>();
    for (const [prefix, bundle] of Object.entries(expected)) {
      const id = functionId(stack, prefix);
      expect(functions[id].Properties.Handler).toBe('index.handler');
      expect(bundleOfFunction(stack, id)).toBe(bundle);
      keys.add(String(functions[id].Properties.Code.S3Key));
    }
    expect(keys.size).toBe(3);
  });

  test('a missing bundle fails synthesis with the command that builds it', () => {
    const { stack, cluster } = givenStack();
    // The fs module object itself (an `import * as` namespace cannot be spied on): the construct reads through it.
    const fs: typeof import('fs') = jest.requireActual('fs');
    const exists = fs.existsSync;
    const spy = jest
      .spyOn(fs, 'existsSync')
      .mockImplementation((p) => !String(p).endsWith(`${FunctionBundle.WATCHDOG}/index.js`) && exists(p));
    try {
      expect(() => new DsqlUrlSecret(stack, 'Db', { cluster })).toThrow(
        /The watchdog function bundle is missing at .*: run 'npm run bundle'/,
      );
    } finally {
      spy.mockRestore();
    }
  });
});

describe('function logs', () => {
  const signers = [
    ['the access-key signer', TokenSigner.managedAccessKey()],
    ['the role signer', TokenSigner.rotationFunctionRole()],
  ] as const;

  test.each(signers)(
    'with %s, the four functions each write to a log group of their own, kept 3 months and deleted with the stack',
    (_n, signer) => {
      const { resources } = synthesized({ signer });
      const functions = ofType(resources, 'AWS::Lambda::Function');
      expect(functions.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual([
        'DatabaseUrlInitialRotationFunction',
        'DatabaseUrlRoleBootstrapFunction',
        'DatabaseUrlRotationFunction',
        'DatabaseUrlWatchdogFunction',
      ]);
      const groups = new Set<string>();
      for (const [, fn] of functions) {
        const group = fn.Properties.LoggingConfig?.LogGroup?.Ref ?? 'none';
        expect(resources[group]).toMatchObject({ Type: 'AWS::Logs::LogGroup', DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
        expect(resources[group].Properties.RetentionInDays).toBe(90);
        groups.add(group);
      }
      expect(groups.size).toBe(4);
      expect(ofType(resources, 'AWS::Logs::LogGroup')).toHaveLength(4);
    },
  );

  test("logRetention sets every log group's retention", () => {
    const { resources } = synthesized({ logRetention: logs.RetentionDays.ONE_YEAR });
    const retentions = ofType(resources, 'AWS::Logs::LogGroup').map(([, g]) => g.Properties.RetentionInDays);
    expect(retentions).toEqual([365, 365, 365, 365]);
  });

  test.each([
    ['outside a VPC', false],
    ['in a VPC', true],
  ])("%s, no role has a managed policy, and logs actions name only the function's own log group", (_n, withVpc) => {
    const { resources } = synthesized({}, withVpc);
    for (const [, role] of ofType(resources, 'AWS::IAM::Role')) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(JSON.stringify(resources)).not.toMatch(/AWSLambda(Basic|VPCAccess)ExecutionRole/);
    for (const [, fn] of ofType(resources, 'AWS::Lambda::Function')) {
      const roleId = fn.Properties.Role['Fn::GetAtt'][0];
      const logStatements = statementsOf(resources, roleId).filter((s) => asList(s.Action).some((a) => String(a).startsWith('logs:')));
      expect(logStatements).toEqual([
        {
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [fn.Properties.LoggingConfig?.LogGroup?.Ref, 'Arn'] },
        },
      ]);
    }
  });

  test('in a VPC, the rotation function and the watchdog (and only they) may manage their network interfaces', () => {
    const { resources } = synthesized({}, true);
    const withEni = ofType(resources, 'AWS::Lambda::Function')
      .filter(([, fn]) => {
        const statements = statementsOf(resources, fn.Properties.Role['Fn::GetAtt'][0]);
        return statements.some((s) => asList(s.Action).includes('ec2:CreateNetworkInterface') && s.Resource === '*');
      })
      .map(([id]) => id.replace(/[0-9A-F]{8}$/, ''));
    expect(withEni.sort()).toEqual(['DatabaseUrlRotationFunction', 'DatabaseUrlWatchdogFunction']);
    const { resources: outside } = synthesized();
    expect(JSON.stringify(outside)).not.toContain('ec2:CreateNetworkInterface');
  });

  test("the functions keep their roles (the role signer's ARN is the database identity custom roles are granted to)", () => {
    const { resources } = synthesized({ signer: TokenSigner.rotationFunctionRole() });
    const roleOf = (prefix: string) => ofType(resources, 'AWS::Lambda::Function').find(([id]) => id.startsWith(prefix))![1].Properties.Role;
    expect(roleOf('DatabaseUrlRotationFunction')).toEqual({ 'Fn::GetAtt': ['DatabaseUrlRotationFunctionServiceRoleE7835942', 'Arn'] });
    expect(roleOf('DatabaseUrlWatchdogFunction')).toEqual({ 'Fn::GetAtt': ['DatabaseUrlWatchdogFunctionServiceRole7B551F7A', 'Arn'] });
  });

  test('a managed policy added to a function role later is kept', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'DatabaseUrl', { cluster });
    db.rotationFunction.role!.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('AWSXrayWriteOnlyAccess'));
    const roles = Template.fromStack(stack).findResources('AWS::IAM::Role');
    const managed = Object.values(roles).flatMap((r) => r.Properties.ManagedPolicyArns ?? []);
    expect(JSON.stringify(managed)).toContain(':iam::aws:policy/AWSXrayWriteOnlyAccess');
    expect(JSON.stringify(managed)).not.toContain('AWSLambdaBasicExecutionRole');
  });
});
