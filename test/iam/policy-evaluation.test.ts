/**
 * The least-privilege machinery on its own: the call recorder (what it derives from a request, and that no
 * secret reaches a record), the template resolver (it fails loudly), and the evaluation (a narrowed policy
 * denies a recorded call, a resource policy's Deny wins, an unused grant is reported).
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { CallRecord, CallRecorder } from '../support/call-recorder';
import { denials, evaluateCalls, Principal, unusedGrants } from './evaluate';
import { NamedPolicy, PolicyDocument, TemplateResolver } from './template-policies';

const SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app/url-AbCdEf';
const ROTATION_ROLE = 'arn:aws:iam::123456789012:role/rotation';
const FUNCTION = 'arn:aws:lambda:us-east-1:123456789012:function:rotation';
const allow = (Action: string | string[], Resource: string | string[], Condition?: unknown): NamedPolicy => ({
  name: 'p',
  policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action, Resource, ...(Condition ? { Condition } : {}) }] },
});
const principal = (caller: string, arn: string, policies: NamedPolicy[]): Principal => ({ caller, arn, policies });
const call = (caller: string, action: string, resources: string[], context: Record<string, string | string[]> = {}): CallRecord => ({
  caller,
  action,
  resources,
  context,
  status: 200,
});

describe('call recorder', () => {
  let upstream: http.Server;
  let recorder: CallRecorder;
  let front: string;

  beforeAll(async () => {
    upstream = http.createServer((req, res) => req.on('data', () => undefined).on('end', () => res.writeHead(200).end('{}')));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    recorder = new CallRecorder({
      region: 'us-east-1',
      account: '123456789012',
      rotationFunctionArn: FUNCTION,
      secretArnOf: (id) => (id === 'app/url' ? SECRET : id),
    });
    recorder.identify('AKIAROTATION', 'rotation');
    front = await recorder.front(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  });

  afterAll(async () => {
    await recorder.stop();
    await new Promise((resolve) => upstream.close(resolve));
  });

  const send = (service: string, init: { method?: string; path?: string; target?: string; body: string; key?: string }) =>
    fetch(`${front}${init.path ?? '/'}`, {
      method: init.method ?? 'POST',
      headers: {
        authorization: `AWS4-HMAC-SHA256 Credential=${init.key ?? 'AKIAROTATION'}/20260101/us-east-1/${service}/aws4_request, Signature=x`,
        ...(init.target ? { 'x-amz-target': init.target, 'content-type': 'application/x-amz-json-1.1' } : {}),
        ...(service === 'iam' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body: init.method === 'GET' ? undefined : init.body,
    });

  test('a JSON-protocol call: action, secret ARN (from its name), version stage; the value never reaches the record', async () => {
    const value = JSON.stringify({ url: 'postgres://admin:TOKEN-VALUE-123@host/db', password: 'TOKEN-VALUE-123' });
    await send('secretsmanager', {
      target: 'secretsmanager.PutSecretValue',
      body: JSON.stringify({ SecretId: 'app/url', SecretString: value, VersionStages: ['AWSPENDING'] }),
    });
    expect(recorder.records.at(-1)).toEqual({
      caller: 'rotation',
      action: 'secretsmanager:PutSecretValue',
      resources: [SECRET],
      context: { 'secretsmanager:SecretId': SECRET, 'secretsmanager:VersionStage': ['AWSPENDING'], 'aws:RequestedRegion': 'us-east-1' },
      status: 200,
    });
    expect(JSON.stringify(recorder.records)).not.toContain('TOKEN-VALUE-123');
  });

  test('RotateSecret also records the lambda:InvokeFunction check Secrets Manager makes with the caller', async () => {
    await send('secretsmanager', { target: 'secretsmanager.RotateSecret', body: JSON.stringify({ SecretId: SECRET }), key: 'AKIAOTHER' });
    expect(recorder.records.slice(-2).map((r) => [r.caller, r.action, r.resources])).toEqual([
      ['unknown', 'secretsmanager:RotateSecret', [SECRET]],
      ['unknown', 'lambda:InvokeFunction', [FUNCTION]],
    ]);
  });

  test('REST and query calls: a Lambda alias update, an IAM access key, an ECS update with its cluster and task definition', async () => {
    await send('lambda', { method: 'PUT', path: '/2015-03-31/functions/app/aliases/live', body: '{"FunctionVersion":"2"}' });
    await send('iam', { body: 'Action=CreateAccessKey&Version=2010-05-08&UserName=signer' });
    await send('ecs', {
      target: 'AmazonEC2ContainerServiceV20141113.UpdateService',
      body: JSON.stringify({ cluster: 'main', service: 'web', forceNewDeployment: true, taskDefinition: 'web:2' }),
    });
    expect(recorder.records.slice(-3).map((r) => [r.action, r.resources, r.context])).toEqual([
      ['lambda:UpdateAlias', ['arn:aws:lambda:us-east-1:123456789012:function:app:live'], { 'aws:RequestedRegion': 'us-east-1' }],
      ['iam:CreateAccessKey', ['arn:aws:iam::123456789012:user/signer'], { 'aws:RequestedRegion': 'us-east-1' }],
      [
        'ecs:UpdateService',
        ['arn:aws:ecs:us-east-1:123456789012:service/main/web'],
        {
          'ecs:cluster': 'arn:aws:ecs:us-east-1:123456789012:cluster/main',
          'ecs:task-definition': 'web:2',
          'aws:RequestedRegion': 'us-east-1',
        },
      ],
    ]);
  });

  test('a call no rule covers is recorded with an error, which the evaluation reports', async () => {
    await send('secretsmanager', { target: 'secretsmanager.DeleteSecret', body: JSON.stringify({ SecretId: SECRET }) });
    const record = recorder.records.at(-1)!;
    expect(record.error).toMatch(/no resource rule for secretsmanager:DeleteSecret/);
    const decisions = await evaluateCalls([record], { account: '123456789012', principals: new Map(), resourcePolicies: new Map() });
    expect(denials(decisions)).toEqual([expect.stringContaining('secretsmanager:DeleteSecret on (none): Error')]);
  });
});

describe('evaluation', () => {
  const put = call('rotation', 'secretsmanager:PutSecretValue', [SECRET], { 'secretsmanager:VersionStage': ['AWSPENDING'] });
  const evaluate = (calls: CallRecord[], principals: Principal[], resourcePolicies = new Map<string, PolicyDocument>()) =>
    evaluateCalls(calls, { account: '123456789012', principals: new Map(principals.map((p) => [p.caller, p])), resourcePolicies });

  test('a recorded call is allowed by its grant, and denied once the policy is narrowed', async () => {
    const full = principal('rotation', ROTATION_ROLE, [allow(['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'], SECRET)]);
    expect(denials(await evaluate([put], [full]))).toEqual([]);
    const narrowed = principal('rotation', ROTATION_ROLE, [allow('secretsmanager:GetSecretValue', SECRET)]);
    expect(denials(await evaluate([put], [narrowed]))).toEqual([`rotation: secretsmanager:PutSecretValue on ${SECRET}: ImplicitlyDenied`]);
  });

  test("a resource policy's Deny for every principal but one wins over another role's identity grant", async () => {
    const keysPolicy: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 'secretsmanager:GetSecretValue',
          Resource: '*',
          Condition: { StringNotEquals: { 'aws:PrincipalArn': ROTATION_ROLE } },
        },
      ],
    };
    const read = (caller: string) => call(caller, 'secretsmanager:GetSecretValue', [SECRET]);
    const grant = [allow('secretsmanager:GetSecretValue', SECRET)];
    const roles = [principal('rotation', ROTATION_ROLE, grant), principal('watchdog', 'arn:aws:iam::123456789012:role/watchdog', grant)];
    const decisions = await evaluate([read('rotation'), read('watchdog')], roles, new Map([[SECRET, keysPolicy]]));
    expect(denials(decisions)).toEqual([`watchdog: secretsmanager:GetSecretValue on ${SECRET}: ExplicitlyDenied`]);
  });

  test('ListTasks is allowed for the bound cluster only (ArnEquals ecs:cluster)', async () => {
    const cluster = (name: string) => `arn:aws:ecs:us-east-1:123456789012:cluster/${name}`;
    const list = (name: string) => call('watchdog', 'ecs:ListTasks', ['*'], { 'ecs:cluster': cluster(name) });
    const p = principal('watchdog', 'arn:aws:iam::123456789012:role/watchdog', [
      allow('ecs:ListTasks', '*', { ArnEquals: { 'ecs:cluster': cluster('app') } }),
    ]);
    expect(denials(await evaluate([list('app'), list('other')], [p]))).toEqual(['watchdog: ecs:ListTasks on *: ImplicitlyDenied']);
  });

  test('a granted action no allowed call used is reported with its resources', async () => {
    const p = principal('rotation', ROTATION_ROLE, [allow(['secretsmanager:PutSecretValue', 'secretsmanager:TagResource'], SECRET)]);
    const decisions = await evaluate([put], [p]);
    expect(unusedGrants(decisions, new Map([['rotation', p]]), (r) => r.replace(SECRET, '<secret>'))).toEqual([
      'rotation: secretsmanager:TagResource on <secret>',
    ]);
  });
});

describe('template resolver', () => {
  const template = {
    Resources: {
      Role: { Type: 'AWS::IAM::Role', Properties: {} },
      Secret: { Type: 'AWS::SecretsManager::Secret', Properties: {} },
      Policy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          Roles: [{ Ref: 'Role' }],
          PolicyDocument: {
            Statement: [
              { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Fn', 'Arn'] }, ':*']] } },
            ],
          },
        },
      },
      Fn: { Type: 'AWS::Lambda::Function', Properties: {} },
    },
  };
  const env = { account: '123456789012', region: 'us-east-1', stackName: 'S' };

  test('resolves Ref, Fn::GetAtt and Fn::Join from the map, pseudo parameters from the environment', () => {
    const resolver = new TemplateResolver(template, { Fn: { attributes: { Arn: FUNCTION } } }, env);
    expect(resolver.rolePolicies('Role')[0].policy.Statement[0].Resource).toBe(`${FUNCTION}:*`);
    expect(resolver.resolve({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::b-${AWS::Region}' })).toBe('arn:aws:s3:::b-us-east-1');
  });

  test('fails loudly on a logical id the map lacks and on an intrinsic it does not know', () => {
    const resolver = new TemplateResolver(template, {}, env);
    expect(() => resolver.rolePolicies('Role')).toThrow('unresolved Fn::GetAtt Fn.Arn (AWS::Lambda::Function)');
    expect(() => resolver.resolve({ Ref: 'Secret' })).toThrow('unresolved Ref Secret (AWS::SecretsManager::Secret)');
    expect(() => resolver.resolve({ 'Fn::ImportValue': 'x' })).toThrow('unsupported intrinsic Fn::ImportValue');
  });
});
