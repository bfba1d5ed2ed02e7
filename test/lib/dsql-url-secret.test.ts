import { Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { PLACEHOLDER_SECRET_VALUE } from '../../lib/configuration-change';
import { FUNCTION_CONFIG_ENV, SignerKind } from '../../lib/contract';
import { DatabaseRole, DsqlUrlSecret, TokenSigner } from '../../lib';
import { CONFIG_FIELDS, functionConfig } from './function-config';
import { givenService, givenStack } from './stack-fixture';

/** Every IAM statement in the template, flattened. */
function statements(stack: Stack): Array<{ Action: string | string[]; Resource: unknown }> {
  const policies = Template.fromStack(stack).findResources('AWS::IAM::Policy');
  return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
}

function actionsOf(s: { Action: string | string[] }): string[] {
  return Array.isArray(s.Action) ? s.Action : [s.Action];
}

describe('DsqlUrlSecret resources', () => {
  test('creates the secret, the rotation function and a 4-hour native schedule', () => {
    // GIVEN
    const { stack, cluster } = givenStack();
    // WHEN
    new DsqlUrlSecret(stack, 'Db', { cluster, secretName: 'app/database-url' });
    // THEN
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'app/database-url' });
    t.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      RotationLambdaARN: { 'Fn::GetAtt': [Match.stringLikeRegexp('DbRotationFunction'), 'Arn'] },
      RotationRules: { ScheduleExpression: 'rate(4 hours)' },
    });
    t.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: Match.stringLikeRegexp('^nodejs(2[2-9]|[3-9][0-9])\\.x$'),
      Handler: 'index.handler',
    });
    expect(functionConfig(stack, 'DbRotationFunction')).toMatchObject({
      host: { 'Fn::Join': ['', [{ Ref: expect.stringMatching(/Cluster/) }, '.dsql.eu-west-1.on.aws']] },
      port: 5432,
      region: 'eu-west-1',
      database: 'postgres',
      username: 'admin',
      tokenLifetimeSeconds: 8 * 3600,
      urlQuery: 'sslmode=require',
      redeployConcurrency: 5,
      boundServicesParameter: expect.stringMatching(/^\/cdk-dsql-url-secret\/.+\/bound-services$/),
    });
  });

  test('the rotation function gets its whole configuration, and nothing else, in one variable', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const fn = Object.entries(Template.fromStack(stack).findResources('AWS::Lambda::Function')).find(([id]) =>
      id.startsWith('DbRotationFunction'),
    )![1];
    expect(Object.keys(fn.Properties.Environment.Variables)).toEqual([FUNCTION_CONFIG_ENV]);
    const cfg = functionConfig(stack, 'DbRotationFunction');
    expect(Object.keys(cfg).sort()).toEqual(CONFIG_FIELDS.rotation);
    // What the function used to default itself, now written by the construct.
    expect(cfg).toMatchObject({
      port: 5432,
      redeployConcurrency: 5,
      redeployStaggerMs: 0,
      connectTimeoutSeconds: 10,
      boundServicesParameterCount: 1,
      metricDimension: expect.stringMatching(/^TestStackDb/),
      signer: { kind: SignerKind.ACCESS_KEY },
      rolloutAllowanceSeconds: 30 * 60,
    });
  });

  test('the secret is tagged so tools find its bound services and schedule without the CDK app', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, rotationInterval: Duration.hours(6), tokenLifetime: Duration.hours(10) });
    const secret = Object.values(Template.fromStack(stack).findResources('AWS::SecretsManager::Secret'))[0];
    const tags = Object.fromEntries(secret.Properties.Tags.map((t: { Key: string; Value: string }) => [t.Key, t.Value]));
    expect(tags).toEqual({
      'cdk-dsql-url-secret:managed-by': 'TestStack/Db',
      'cdk-dsql-url-secret:bound-services-parameter': expect.stringMatching(/^\/cdk-dsql-url-secret\/.+\/bound-services$/),
      'cdk-dsql-url-secret:rotation-interval-seconds': '21600',
      // The URL without its token, for the CLI's exec --sign (test/cli/endpoint-tag.test.ts).
      'cdk-dsql-url-secret:endpoint': {
        'Fn::Join': [
          '',
          ['postgres://admin@', { Ref: expect.stringMatching(/^Cluster/) }, '.dsql.eu-west-1.on.aws:5432/postgres sslmode=require'],
        ],
      },
    });
  });

  test('redeployStagger reaches the handler in milliseconds (default 0)', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, redeployStagger: Duration.millis(1500) });
    expect(functionConfig(stack, 'DbRotationFunction').redeployStaggerMs).toBe(1500);
    const defaults = givenStack();
    new DsqlUrlSecret(defaults.stack, 'Db', { cluster: defaults.cluster });
    expect(functionConfig(defaults.stack, 'DbRotationFunction').redeployStaggerMs).toBe(0);
  });

  test('the secret starts with every JSON field the handler writes, all empty whatever the props (see configuration-change.test.ts)', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, databaseRole: DatabaseRole.custom('app_rw'), database: 'postgres' });
    const secret = Object.values(Template.fromStack(stack).findResources('AWS::SecretsManager::Secret'))[0];
    const value = JSON.stringify(stack.resolve(secret.Properties.SecretString));
    for (const field of ['url', 'host', 'port', 'username', 'password', 'dbname', 'sslmode', 'issuedAt', 'expiresAt']) {
      expect(value).toContain(`\\"${field}\\"`);
    }
    // The role is in the first-rotation custom resource's settings, not in the template value.
    expect(value).not.toContain('app_rw');
    expect(JSON.parse(stack.resolve(secret.Properties.SecretString))).toEqual(PLACEHOLDER_SECRET_VALUE);
  });

  test('custom rotation interval, lifetime, role, parameters and key are passed through', () => {
    const { stack, cluster } = givenStack();
    const key = new kms.Key(stack, 'Key');
    new DsqlUrlSecret(stack, 'Db', {
      cluster,
      databaseRole: DatabaseRole.custom('app_rw'),
      rotationInterval: Duration.hours(12),
      tokenLifetime: Duration.days(1),
      rolloutAllowance: Duration.hours(1),
      encryptionKey: key,
      urlParameters: { sslmode: 'verify-full', uselibpqcompat: 'true' },
      redeployConcurrency: 10,
    });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::SecretsManager::Secret', { KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('Key'), 'Arn'] } });
    t.hasResourceProperties('AWS::SecretsManager::RotationSchedule', { RotationRules: { ScheduleExpression: 'rate(12 hours)' } });
    expect(functionConfig(stack, 'DbRotationFunction')).toMatchObject({
      username: 'app_rw',
      tokenLifetimeSeconds: 86400,
      urlQuery: 'sslmode=verify-full&uselibpqcompat=true',
      redeployConcurrency: 10,
      rolloutAllowanceSeconds: 3600,
    });
  });

  test('ecsSecret() reads the url field and grants the execution role read', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    // Bound: consumer discovery refuses an unbound service that injects the secret.
    db.redeployOnRotation(givenService(stack, ecsCluster, 'App', db.ecsSecret()));
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Secrets: [{ Name: 'DATABASE_URL', ValueFrom: { 'Fn::Join': ['', [{ Ref: Match.stringLikeRegexp('DbSecret') }, ':url::']] } }],
        }),
      ],
    });
    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('AppTaskExecutionRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
            Resource: { Ref: Match.stringLikeRegexp('DbSecret') },
            // AWSCURRENT only: test/lib/hardening-current-version.test.ts.
            Condition: {
              StringEqualsIfExists: { 'secretsmanager:VersionStage': 'AWSCURRENT' },
              Null: { 'secretsmanager:VersionId': 'true' },
            },
          }),
        ]),
      },
    });
  });

  test('ecsSecret(field) rejects unknown fields and accepts known ones', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    expect(() => db.ecsSecret('passwd')).toThrow(/unknown field 'passwd'; use one of url, host/);
    expect(db.ecsSecret('host').arn).toContain(':host::');
  });

  test('grantRead() grants the grantee read on the secret', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    const role = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
    db.grantRead(role);
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('Reader') }],
      PolicyDocument: { Statement: [Match.objectLike({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'] })] },
    });
  });
});

describe('redeployOnRotation', () => {
  // The role signer: the access-key signer's key guard also reads tasks (task-read-permissions.test.ts).
  test('stores the service ARNs in the parameter and lets the function update exactly those services', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.rotationFunctionRole() });
    const a = givenService(stack, ecsCluster, 'A', db.ecsSecret());
    const b = givenService(stack, ecsCluster, 'B', db.ecsSecret());
    db.redeployOnRotation(a);
    db.redeployOnRotation(b);
    const t = Template.fromStack(stack);
    const parameter = Object.values(t.findResources('AWS::SSM::Parameter'))[0];
    expect(JSON.stringify(stack.resolve(parameter.Properties.Value))).toMatch(/Ref.*AService.*Ref.*BService/);
    const ecsStatements = statements(stack).filter((s) => actionsOf(s).some((a) => a.startsWith('ecs:')));
    // Beside the redeploy statement, only the task reads of the fleet check (task-read-permissions.test.ts).
    expect(ecsStatements.flatMap(actionsOf).sort()).toEqual([
      'ecs:DescribeServices',
      'ecs:DescribeTasks',
      'ecs:ListTasks',
      'ecs:UpdateService',
    ]);
    expect(actionsOf(ecsStatements[0]).sort()).toEqual(['ecs:DescribeServices', 'ecs:UpdateService']);
    expect(ecsStatements[0].Resource).toEqual([{ Ref: expect.stringMatching(/^AService/) }, { Ref: expect.stringMatching(/^BService/) }]);
  });

  test("when the services' longest ARNs would not fit the policy's share, it names each cluster's services instead", () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.rotationFunctionRole() });
    for (let i = 0; i < 41; i++) db.redeployOnRotation(givenService(stack, ecsCluster, `S${i}`));
    const ecsStatements = statements(stack).filter((s) => actionsOf(s).includes('ecs:UpdateService'));
    expect(ecsStatements).toHaveLength(1);
    const resource = JSON.stringify(ecsStatements[0].Resource);
    expect(resource).toMatch(/:ecs:eu-west-1:123456789012:service\/.*"Ref":"EcsCluster.*\/\*/);
    expect(resource).not.toMatch(/S\d+Service/);
  });

  test('services are created after the first rotation, without a dependency cycle', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    db.redeployOnRotation(givenService(stack, ecsCluster, 'A', db.ecsSecret()));
    const t = Template.fromStack(stack);
    const service = Object.values(t.findResources('AWS::ECS::Service'))[0];
    expect(service.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/DbInitialRotation/)]));
    const fn = Object.values(t.findResources('AWS::Lambda::Function'))[0];
    // The function must not reference the service, or CloudFormation sees a cycle.
    expect(JSON.stringify(fn)).not.toMatch(/AService/);
    expect(JSON.stringify(fn.DependsOn ?? [])).not.toMatch(/RedeployPolicy/);
  });

  test('binding the same service twice is an error', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    const a = givenService(stack, ecsCluster, 'A');
    db.redeployOnRotation(a);
    expect(() => db.redeployOnRotation(a)).toThrow(/already bound/);
  });

  test('admin role: dsql:DbConnectAdmin on this cluster only', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const dsql = statements(stack).filter((s) => actionsOf(s).some((a) => a.startsWith('dsql:')));
    // Connecting as admin, and (the first rotation) reading the cluster's status: both on this cluster only.
    expect(dsql.flatMap(actionsOf).sort()).toEqual(['dsql:DbConnectAdmin', 'dsql:GetCluster']);
    for (const s of dsql) expect(JSON.stringify(s.Resource)).toMatch(/^"?\{?.*:dsql:eu-west-1:.*:cluster\/.*"Ref":"Cluster[^*]*$/);
  });

  test('custom role: dsql:DbConnect, not DbConnectAdmin', () => {
    const { stack, cluster } = givenStack();
    // Without the role bootstrap, whose own DbConnectAdmin is tested in role-bootstrap.test.ts.
    new DsqlUrlSecret(stack, 'Db', { cluster, databaseRole: DatabaseRole.custom('app_rw', { bootstrap: false }) });
    const actions = statements(stack)
      .flatMap(actionsOf)
      .filter((a) => a.startsWith('dsql:'));
    expect(actions.sort()).toEqual(['dsql:DbConnect', 'dsql:GetCluster']);
  });

  test('no wildcard resource for dsql, ecs, ssm or secretsmanager actions', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    db.redeployOnRotation(givenService(stack, ecsCluster, 'A', db.ecsSecret()));
    const wildcard = statements(stack).filter((s) => JSON.stringify(s.Resource).includes('"*"') || s.Resource === '*');
    const scoped = wildcard.flatMap(actionsOf).filter((a) => /^(dsql|ecs:UpdateService|ecs:DescribeServices|ssm|secretsmanager):?/.test(a));
    expect(scoped).toEqual([]);
  });

  test('the function may tag the secret and read its bound-services parameter by exact ARN', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const all = statements(stack);
    const tag = all.find((s) => actionsOf(s).includes('secretsmanager:TagResource'));
    expect(tag?.Resource).toEqual({ Ref: expect.stringMatching(/^DbSecret/) });
    const get = all.find((s) => actionsOf(s).includes('ssm:GetParameter'));
    expect(JSON.stringify(get?.Resource)).toMatch(/:ssm:eu-west-1:123456789012:parameter\/cdk-dsql-url-secret\/.+\/bound-services/);
  });

  test('the function may untag the secret (a real rotation ends a deferral), on that secret only', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const untag = statements(stack).filter((s) => actionsOf(s).includes('secretsmanager:UntagResource'));
    expect(untag).toHaveLength(1);
    expect(untag[0].Resource).toEqual({ Ref: expect.stringMatching(/^DbSecret/) });
    expect(actionsOf(untag[0])).toEqual(['secretsmanager:TagResource', 'secretsmanager:UntagResource']);
  });

  test.each([
    ['role', TokenSigner.rotationFunctionRole(), SignerKind.ROLE],
    ['access-key', TokenSigner.managedAccessKey(), SignerKind.ACCESS_KEY],
  ])('the %s signer gets rolloutAllowanceSeconds (the deferral window)', (_name, signer, kind) => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, signer, rolloutAllowance: Duration.minutes(20) });
    expect(functionConfig(stack, 'DbRotationFunction')).toMatchObject({ signer: { kind }, rolloutAllowanceSeconds: 1200 });
  });

  test('with the role signer, signerArn is the rotation function role', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.rotationFunctionRole() });
    expect(stack.resolve(db.signerArn)).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/DbRotationFunctionServiceRole/), 'Arn'] });
  });
});

describe('validation', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'token lifetime above one week',
      { tokenLifetime: Duration.days(8) },
      /tokenLifetime must be at most 7 days .* got 8 days: lower tokenLifetime/,
    ],
    [
      'rotation interval too short',
      { rotationInterval: Duration.minutes(10), rolloutAllowance: Duration.minutes(1) },
      /rotationInterval must be at least 25 minutes for rolloutAllowance 1 minute and watchdogInterval 5 minutes .* got 10 minutes: raise rotationInterval to at least 25 minutes/,
    ],
    [
      'rotation interval shorter than two rollouts',
      { rotationInterval: Duration.hours(1), rolloutAllowance: Duration.hours(1) },
      /rotationInterval must be at least 2 hours 10 minutes .* got 1 hour: .* or lower rolloutAllowance/,
    ],
    [
      'lifetime equal to interval + allowance',
      { rotationInterval: Duration.hours(6), rolloutAllowance: Duration.hours(2), tokenLifetime: Duration.hours(8) },
      /tokenLifetime must be at least rotationInterval \+ 1 hour schedule window \+ 2 x rolloutAllowance \+ 2 x watchdogInterval \(a rescue noticed up to one interval late, its rollout, and the heal of a stuck one\) \+ 15 minutes to clear a failed rotation \+ 5 minutes margin = 11 hours 30 minutes, got 8 hours: raise tokenLifetime to at least 11 hours 30 minutes, so tasks/,
    ],
    [
      'lifetime below interval',
      { rotationInterval: Duration.hours(8) },
      /got 8 hours: raise tokenLifetime to at least 10 hours 30 minutes or lower rotationInterval to at most 5 hours 30 minutes/,
    ],
    [
      'lifetime too short for any interval',
      { tokenLifetime: Duration.minutes(40) },
      /got 40 minutes: raise tokenLifetime to at least 6 hours 30 minutes, so tasks/,
    ],
    [
      'scheduler intervals have no window',
      { rotationInterval: Duration.hours(1), rolloutAllowance: Duration.minutes(10), tokenLifetime: Duration.minutes(90) },
      /tokenLifetime must be at least rotationInterval \+ 2 x rolloutAllowance .* = 1 hour 50 minutes, got 1 hour 30 minutes/,
    ],
    ['zero rollout allowance', { rolloutAllowance: Duration.seconds(0) }, /rolloutAllowance must be positive/],
    [
      'watchdog interval under a minute',
      { watchdogInterval: Duration.seconds(30) },
      /watchdogInterval must be from 1 minute to 1 hour, got 30 seconds/,
    ],
    ['invalid database name', { database: 'My-DB' }, /database must be a lower-case PostgreSQL identifier .* got 'My-DB'/],
    ['empty database name', { database: '' }, /database must be .* got ''/],
    ['invalid secret name', { secretName: 'has space' }, /secretName must be .* got 'has space'/],
    ['empty secret name', { secretName: '' }, /secretName must be .* got ''/],
    [
      'missing sslmode',
      { urlParameters: { application_name: 'x' } },
      /urlParameters.sslmode must be one of require, verify-ca, verify-full .* got '\(missing\)'/,
    ],
    ['plain-text sslmode', { urlParameters: { sslmode: 'disable' } }, /got 'disable'/],
    ['bad parameter value', { urlParameters: { sslmode: 'require', options: 'a&b' } }, /'options=a&b' is not a valid/],
    ['concurrency 0', { redeployConcurrency: 0 }, /redeployConcurrency must be a whole number from 1 to 50, got 0/],
    ['fractional concurrency', { redeployConcurrency: 2.5 }, /got 2.5/],
  ];
  test.each(cases)('%s', (_name, props, message) => {
    const { stack, cluster } = givenStack();
    expect(() => new DsqlUrlSecret(stack, 'Db', { cluster, ...props })).toThrow(message);
  });

  test('the tightest lifetime that fits is accepted, one second less is not', () => {
    const tight = { rotationInterval: Duration.hours(4), rolloutAllowance: Duration.minutes(30), watchdogInterval: Duration.minutes(5) };
    const ok = givenStack();
    // 4 h interval + 1 h schedule window + 2 x 30 min rollout and heal + 2 x 5 min watchdog + 15 min stale pending + 5 min margin.
    const minutes = 240 + 60 + 60 + 10 + 15 + 5;
    expect(
      () => new DsqlUrlSecret(ok.stack, 'Db', { cluster: ok.cluster, ...tight, tokenLifetime: Duration.minutes(minutes) }),
    ).not.toThrow();
    const tooShort = givenStack();
    expect(
      () =>
        new DsqlUrlSecret(tooShort.stack, 'Db', { cluster: tooShort.cluster, ...tight, tokenLifetime: Duration.seconds(minutes * 60 - 1) }),
    ).toThrow(/at least 6 hours 30 minutes/);
  });

  test('a role-signed lifetime above 12 hours warns and points to managed access keys', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', {
      cluster,
      signer: TokenSigner.rotationFunctionRole(),
      rotationInterval: Duration.hours(12),
      tokenLifetime: Duration.days(1),
    });
    // The lifetime warning itself, not the role signer's general one (token-signer.test.ts).
    Annotations.fromStack(stack).hasWarning(
      '/TestStack/Db',
      Match.stringLikeRegexp('^tokenLifetime is 1 day.*TokenSigner.managedAccessKey\\(\\)'),
    );
    const keys = givenStack();
    new DsqlUrlSecret(keys.stack, 'Db', {
      cluster: keys.cluster,
      signer: TokenSigner.managedAccessKey(),
      rotationInterval: Duration.hours(12),
      tokenLifetime: Duration.days(1),
    });
    Annotations.fromStack(keys.stack).hasNoWarning('/TestStack/Db', Match.anyValue());
  });
});
