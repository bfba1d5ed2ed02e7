import { NestedStack, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { BoundFunctionEntry, MetricName } from '../../lib/contract';
import { FUNCTION_POLICY_BUDGET } from '../../lib/function-consumer-permissions';
import { functionConfig } from './function-config';
import { appFunction, given, logicalId, variablesOf } from './function-consumer-fixture';
import { LongestResolution } from './longest-resolution';

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };

/** The statements of the bound-functions policy, and the roles it is attached to. */
function functionPolicy(stack: Stack): { statements: Statement[]; roles: unknown[] } {
  const policy = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).find((p) =>
    /^update-functions-/.test(p.Properties.PolicyName),
  );
  if (policy === undefined) throw new Error('no bound-functions policy');
  return { statements: policy.Properties.PolicyDocument.Statement, roles: policy.Properties.Roles };
}

const actions = (s: Statement) => [s.Action].flat().sort();
const ref = (fn: lambda.Function) => ({ 'Fn::GetAtt': [logicalId(fn), 'Arn'] });
/** The dynamic reference CloudFormation resolves to AWSCURRENT's `field`. */
const dynamicReference = (field: string) => ({
  'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: expect.stringMatching(/^DbSecret/) }, `:SecretString:${field}::}}`]],
});

describe('updateFunctionOnRotation', () => {
  test("the variable holds a dynamic reference to AWSCURRENT's field, and the function waits for the first rotation", () => {
    const { stack, db } = given();
    const fn = appFunction(stack, 'Api');
    db.updateFunctionOnRotation(fn);
    db.updateFunctionOnRotation(appFunction(stack, 'Jobs'), { variable: 'PGHOST', field: 'host' });

    const template = Template.fromStack(stack);
    expect(variablesOf(template, fn)).toEqual({ DATABASE_URL: dynamicReference('url') });
    const resource = template.toJSON().Resources[logicalId(fn)];
    expect(resource.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^DbInitialRotation/)]));
    // No URL in the function's template: CloudFormation resolves the reference when it creates or updates the function.
    expect(JSON.stringify(resource)).not.toMatch(/postgres:\/\/|X-Amz-Signature/);
  });

  test('two syntheses, an unrelated prop changed: both templates hold the dynamic reference, never a literal URL', () => {
    const synth = (memorySize: number) => {
      const { stack, db } = given();
      const fn = appFunction(stack, 'Api', { memorySize });
      db.updateFunctionOnRotation(fn);
      const template = Template.fromStack(stack);
      return { template, fn, resource: template.toJSON().Resources[logicalId(fn)] };
    };
    const first = synth(256);
    const second = synth(512);

    // The update CloudFormation makes for the memory change carries the reference, which it resolves to AWSCURRENT then.
    expect(first.resource.Properties.MemorySize).not.toEqual(second.resource.Properties.MemorySize);
    for (const { template, fn, resource } of [first, second]) {
      expect(variablesOf(template, fn).DATABASE_URL).toEqual(dynamicReference('url'));
      expect(resource.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^DbInitialRotation/)]));
      expect(JSON.stringify(resource)).not.toMatch(/postgres:\/\/|X-Amz-Signature/);
    }
    expect(variablesOf(first.template, first.fn)).toEqual(variablesOf(second.template, second.fn));
  });

  test('the parameters list each binding as a BoundFunctionEntry; both functions get their name and count and may read them', () => {
    const { stack, db } = given();
    const api = appFunction(stack, 'Api');
    const jobs = appFunction(stack, 'Jobs');
    db.updateFunctionOnRotation(api);
    db.updateFunctionOnRotation(jobs, { variable: 'DB_PASSWORD', field: 'password', alias: jobs.addAlias('live') });

    const parameters = Template.fromStack(stack).findResources('AWS::SSM::Parameter');
    const mine = Object.values(parameters).filter((p) => /bound-functions$/.test(p.Properties.Name));
    expect(mine).toHaveLength(1);
    const value = stack.resolve(mine[0].Properties.Value);
    const json = JSON.stringify(value);
    expect(json).toContain(JSON.stringify(ref(api)));
    expect(json).toMatch(/"variable\\":\\"DATABASE_URL\\",\\"field\\":\\"url\\",\\"alias\\":null/);
    expect(json).toMatch(/"variable\\":\\"DB_PASSWORD\\",\\"field\\":\\"password\\",\\"alias\\":\\"live\\"/);
    const name = mine[0].Properties.Name as string;
    expect(name).toMatch(/^\/cdk-dsql-url-secret\/.+\/bound-functions$/);
    for (const prefix of ['DbRotationFunction', 'DbWatchdogFunction']) {
      const config = functionConfig(stack, prefix);
      expect(config).toMatchObject({ boundFunctionsParameter: name, boundFunctionsParameterCount: 1 });
    }
    const reads = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
      .filter((s) => actions(s).includes('ssm:GetParameters') && JSON.stringify(s.Resource).includes('bound-functions'));
    expect(reads).toHaveLength(2);
    for (const s of reads) {
      expect(actions(s)).toEqual(['ssm:GetParameters']);
      expect(JSON.stringify(s.Resource)).toMatch(/parameter\/cdk-dsql-url-secret\/[^"*]+\/bound-functions".*bound-functions-\*"/);
    }
  });

  test('entries past one Standard parameter go to <name>-2, each value at most 4,096 characters at its longest', () => {
    const { stack, db } = given();
    // Short names keep the policy small; long variable names make entries of about 240 characters: 17 a parameter.
    const variable = 'V'.repeat(100);
    for (let i = 0; i < 20; i++) db.updateFunctionOnRotation(appFunction(stack, `F${i}`, { functionName: `f${i}` }), { variable });
    const parameters = Object.values(Template.fromStack(stack).findResources('AWS::SSM::Parameter')).filter((p) =>
      /bound-functions(-\d+)?$/.test(p.Properties.Name),
    );
    expect(parameters.map((p) => p.Properties.Name).sort()).toEqual([
      expect.stringMatching(/bound-functions$/),
      expect.stringMatching(/bound-functions-2$/),
    ]);
    expect(functionConfig(stack, 'DbRotationFunction').boundFunctionsParameterCount).toBe(2);
    // Each function ARN at its longest: a 16-character partition (the stack's is a token), the given name.
    const entries = parameters.flatMap((p) => {
      const [, parts] = (stack.resolve(p.Properties.Value) as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
      const longest = (part: unknown) => {
        if (typeof part === 'string') return part;
        const id = (part as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
        const name = Template.fromStack(stack).toJSON().Resources[id].Properties.FunctionName;
        return `arn:${'p'.repeat(16)}:lambda:eu-west-1:123456789012:function:${name}`;
      };
      const text = parts.map(longest).join('');
      expect(text.length).toBeLessThanOrEqual(4096);
      return JSON.parse(text) as BoundFunctionEntry[];
    });
    expect(entries.map((e) => e.functionArn.split(':').pop())).toEqual(Array.from({ length: 20 }, (_, i) => `f${i}`));
    expect(entries.every((e) => e.variable === variable && e.field === 'url' && e.alias === null)).toBe(true);
  });

  test('a function in a NestedStack of the construct stack, and a container-image function, can be bound', () => {
    const { stack, db } = given();
    const nested = new NestedStack(stack, 'Functions');
    const fn = appFunction(nested, 'Worker');
    db.updateFunctionOnRotation(fn);
    const image = new lambda.DockerImageFunction(stack, 'Image', {
      code: lambda.DockerImageCode.fromEcr(ecr.Repository.fromRepositoryName(stack, 'Repo', 'app')),
    });
    db.updateFunctionOnRotation(image);
    expect(variablesOf(Template.fromStack(stack), image).DATABASE_URL).toEqual(dynamicReference('url'));
    const nestedResource = Template.fromStack(stack).toJSON().Resources[stack.resolve(nested.nestedStackResource!.logicalId)];
    expect(nestedResource.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^DbInitialRotation/)]));
    expect(JSON.stringify(variablesOf(Template.fromStack(nested), fn).DATABASE_URL)).toMatch(/resolve:secretsmanager:.*SecretString:url::/);
  });

  test('functionUpdateAlarm fires on StaleFunctions >= 1 for this secret, over one watchdog interval', () => {
    const { stack, db } = given();
    const alarm =
      Template.fromStack(stack).toJSON().Resources[stack.resolve((db.functionUpdateAlarm.node.defaultChild as never)['logicalId'])];
    expect(alarm.Properties).toMatchObject({
      MetricName: MetricName.STALE_FUNCTIONS,
      Namespace: 'CdkDsqlUrlSecret',
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    const watchdogDimension = functionConfig(stack, 'DbWatchdogFunction').metricDimension;
    expect(alarm.Properties.Dimensions).toEqual([{ Name: 'Secret', Value: watchdogDimension }]);
  });
});

describe('the bound-functions policy', () => {
  test('Get/UpdateFunctionConfiguration on each bound function only, attached to the rotation and watchdog roles', () => {
    const { stack, db } = given();
    const api = appFunction(stack, 'Api');
    const jobs = appFunction(stack, 'Jobs');
    db.updateFunctionOnRotation(api);
    db.updateFunctionOnRotation(jobs);
    const { statements, roles } = functionPolicy(stack);
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['lambda:GetFunctionConfiguration', 'lambda:UpdateFunctionConfiguration'],
        Resource: [ref(api), ref(jobs)],
      },
    ]);
    expect(roles).toEqual([
      { Ref: expect.stringMatching(/^DbRotationFunctionServiceRole/) },
      { Ref: expect.stringMatching(/^DbWatchdogFunction/) },
    ]);
    // Attached by a policy of its own: the rotation function does not wait for the bound functions.
    const rotation = Object.entries(Template.fromStack(stack).findResources('AWS::Lambda::Function')).find(([id]) =>
      /^DbRotationFunction/.test(id),
    )!;
    expect(JSON.stringify(rotation[1].DependsOn ?? [])).not.toMatch(/Api|Jobs|update-functions|DbBoundFunctionsPolicy/);
  });

  test('with an alias: PublishVersion on its function, Get/UpdateAlias on the function and the alias, its versions readable', () => {
    const { stack, db } = given();
    const plain = appFunction(stack, 'Plain');
    const aliased = appFunction(stack, 'Aliased');
    const live = aliased.addAlias('live');
    db.updateFunctionOnRotation(plain);
    db.updateFunctionOnRotation(aliased, { alias: live });
    const { statements } = functionPolicy(stack);
    const aliasArn = stack.resolve(live.functionArn);
    expect(statements).toEqual([
      expect.objectContaining({ Resource: [ref(plain), ref(aliased)] }),
      { Effect: 'Allow', Action: 'lambda:PublishVersion', Resource: ref(aliased) },
      { Effect: 'Allow', Action: ['lambda:GetAlias', 'lambda:UpdateAlias'], Resource: [ref(aliased), aliasArn] },
      {
        Effect: 'Allow',
        Action: 'lambda:GetFunctionConfiguration',
        Resource: { 'Fn::Join': ['', [ref(aliased), ':*']] },
      },
    ]);
    expect(JSON.stringify(statements)).not.toContain(JSON.stringify(ref(plain)) + ',":*"');
  });

  test("a customer managed key of the function's environment: Encrypt, Decrypt and CreateGrant on that key, through Lambda only", () => {
    const { stack, db } = given();
    const key = new kms.Key(stack, 'EnvKey');
    const fn = appFunction(stack, 'Api', { environmentEncryption: key });
    db.updateFunctionOnRotation(fn);
    db.updateFunctionOnRotation(appFunction(stack, 'Other', { environmentEncryption: key }));
    db.updateFunctionOnRotation(appFunction(stack, 'Plain'));
    const kmsStatements = functionPolicy(stack).statements.filter((s) => actions(s).some((a) => a.startsWith('kms:')));
    expect(kmsStatements).toEqual([
      {
        Effect: 'Allow',
        Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:CreateGrant'],
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^EnvKey/), 'Arn'] },
        Condition: { StringEquals: { 'kms:ViaService': 'lambda.eu-west-1.amazonaws.com' } },
      },
    ]);
  });

  test('no KMS statement when no bound function has a customer managed key', () => {
    const { stack, db } = given();
    db.updateFunctionOnRotation(appFunction(stack, 'Api'));
    expect(
      functionPolicy(stack)
        .statements.flatMap(actions)
        .filter((a) => a.startsWith('kms:')),
    ).toEqual([]);
  });

  test('more functions than the policy may name is refused at synth, naming the fix', () => {
    const { app, stack, db } = given();
    for (let i = 0; i < 20; i++) db.updateFunctionOnRotation(appFunction(stack, `F${i}`));
    expect(() => app.synth()).toThrow(
      /20 functions bound to Stack\/Db need a policy of up to \d+ characters.*functionName.*several DsqlUrlSecret/,
    );
  });
});

describe('the policy size check', () => {
  /** Functions with generated names and no alias: each ARN counts 137 characters at its longest. */
  const FUNCTIONS_WITHIN_BUDGET = 12;
  const bind = (count: number) => {
    const { app, stack, db } = given();
    // One of them with a customer managed key: the KMS statement counts too.
    db.updateFunctionOnRotation(appFunction(stack, 'Encrypted', { environmentEncryption: new kms.Key(stack, 'EnvKey') }));
    for (let i = 0; i < count - 1; i++) db.updateFunctionOnRotation(appFunction(stack, `F${i}`));
    return { app, stack };
  };

  test('what it lets through is within its share once CloudFormation resolves every name at its longest', () => {
    const { stack } = bind(FUNCTIONS_WITHIN_BUDGET);
    // Resolved independently of the library's own sizing: test/lib/longest-resolution.ts.
    const resolution = new LongestResolution(stack);
    const policy = Object.values(resolution.resources).find(
      (r) => r.Type === 'AWS::IAM::Policy' && /^update-functions-/.test(String(r.Properties!.PolicyName)),
    )!;
    const longest = JSON.stringify(resolution.substitute(policy.Properties!.PolicyDocument)).length;
    expect(longest).toBeLessThanOrEqual(FUNCTION_POLICY_BUDGET);
    expect(longest).toBeGreaterThan(FUNCTION_POLICY_BUDGET * 0.85);
  });

  test('one function more is refused', () => {
    expect(() => bind(FUNCTIONS_WITHIN_BUDGET + 1).app.synth()).toThrow(/the 13 functions bound to Stack\/Db need a policy of up to/);
  });
});
