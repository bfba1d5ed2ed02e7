/**
 * A custom database role's first deploy, end to end against the local stack: the role bootstrap's
 * shipped bundle (a child process, as Lambda runs it) answers a CloudFormation event by connecting
 * to the DSQL-style endpoint as admin with its own identity, creating the role and granting it to
 * the signer; then the rotation function's first rotation passes. The endpoint refuses a custom
 * role's token unless the role was granted to the identity that signed it, so the tests can fail.
 */
import { createServer, Server } from 'http';
import { AddressInfo } from 'net';
import { FunctionBundle } from '../../lib/contract';
import { CustomResourceEvent, CustomResourceResponse } from '../../functions/cfn-response';
import { runAsAdmin } from '../support/local-admin-sql';
import { functionConfigEnv, LocalStack, newCredentials, ROTATION_ROLE_ARN } from '../support/local-stack';
import { RotationFailedError } from '../support/rotation-service';
import { abandonPending, blockingPending, captureOutput, findLeaks, stagesOf, startStack } from './harness';
import { withPg } from './clients';

jest.setTimeout(120_000);

const ROLE = 'app_boot';
/** The bootstrap function's own execution role: it may connect as admin, and is granted nothing. */
const BOOTSTRAP_ROLE_ARN = 'arn:aws:iam::123456789012:role/local-role-bootstrap-role';
const GRANTS = ['USAGE ON SCHEMA app', 'SELECT, INSERT ON ALL TABLES IN SCHEMA app'];

let stack: LocalStack;
let output: ReturnType<typeof captureOutput>;
let server: Server;
let responses: CustomResourceResponse[];
const bootstrapKey = newCredentials();

beforeAll(async () => {
  output = captureOutput();
  // As before a first deploy: the role does not exist and nothing is granted.
  stack = await startStack({ username: ROLE, grantRoleToSigner: false, services: 1 });
  stack.knownCredentials.set(bootstrapKey.accessKeyId, bootstrapKey);
  stack.identityArns.set(bootstrapKey.accessKeyId, BOOTSTRAP_ROLE_ARN);
  // The schema and table the grants name, made by the app's migrations as admin.
  await runAsAdmin({ ...stack, region: 'us-east-1' }, ['CREATE SCHEMA app', 'CREATE TABLE app.notes (body text)']);
  responses = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      responses.push(JSON.parse(body) as CustomResourceResponse);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
}, 90_000);

afterAll(async () => {
  output?.restore();
  await new Promise((resolve) => server?.close(resolve));
  await stack?.stop();
});

/** Runs the role-bootstrap bundle for one CloudFormation request, with its own credentials; returns its answer. */
async function bootstrap(RequestType: CustomResourceEvent['RequestType'], key = bootstrapKey): Promise<CustomResourceResponse> {
  responses = [];
  const event: CustomResourceEvent = {
    RequestType,
    ResponseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/response?X-Amz-Signature=presigned`,
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/app/1',
    RequestId: `req-${RequestType}`,
    LogicalResourceId: 'DbRoleBootstrap',
    ResourceProperties: { RoleName: ROLE, SignerArn: stack.signerArn, Grants: GRANTS },
    ...(RequestType === 'Create' ? {} : { PhysicalResourceId: `${ROLE}@${stack.endpoint.host}` }),
  };
  const result = await stack.invokeFunction(FunctionBundle.ROLE_BOOTSTRAP, event, {
    awsOnly: true,
    env: {
      ...functionConfigEnv(stack.roleBootstrapConfig({ grants: GRANTS })),
      AWS_ACCESS_KEY_ID: key.accessKeyId,
      AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
    },
  });
  expect(result.ok).toBe(true);
  expect(responses).toHaveLength(1);
  return responses[0];
}

const roleExists = async () =>
  (await runAsAdmin({ ...stack, region: 'us-east-1' }, [`SELECT 1 FROM pg_roles WHERE rolname = '${ROLE}'`]))[0].length === 1;

describe('a custom role passes its first deploy with the role bootstrap', () => {
  test('without it the first rotation fails at testSecret: DSQL refuses the role for the signer, and says which grant is missing', async () => {
    expect(stack.signerArn).toBe(ROTATION_ROLE_ARN);
    const error = await stack.rotate({ maxAttempts: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RotationFailedError);
    const [failure] = (error as RotationFailedError).failures;
    expect(failure.step).toBe('testSecret');
    expect(failure.message).toMatch(/DSQL rejected the new token .* as 'app_boot'/);
    expect(failure.message).toContain(`the role was granted to the signer: AWS IAM GRANT ${ROLE} TO '<signer IAM ARN>'`);
    expect(stack.endpoint.stats.rejections.at(-1)).toEqual({ user: ROLE, reason: expect.stringMatching(/^role app_boot is not granted/) });
    // What an operator does after a failed rotation, so the next one can start.
    for (const version of blockingPending(await stagesOf(stack))) await abandonPending(stack, version);
  });

  test('Create: the bootstrap creates the role, grants it to the signer only, and runs the SQL grants', async () => {
    expect(await roleExists()).toBe(false);

    const answer = await bootstrap('Create');

    expect(answer).toMatchObject({
      Status: 'SUCCESS',
      Reason: `Role ${ROLE} created; granted to ${ROTATION_ROLE_ARN}; 2 SQL grant(s) applied`,
      PhysicalResourceId: `${ROLE}@${stack.endpoint.host}`,
    });
    expect(await roleExists()).toBe(true);
    expect((await stack.endpoint.iamMappings()).filter((m) => m.role === ROLE)).toEqual([{ role: ROLE, arn: ROTATION_ROLE_ARN }]);
  });

  test('then the first rotation succeeds, and the URL logs in as the role with exactly the granted privileges', async () => {
    const result = await stack.rotate();
    expect(result.attempts).toBe(1);

    const v = await stack.readStage('AWSCURRENT');
    const seen = await withPg(v.url, stack.endpoint.caFile, async (c) => {
      const who = (await c.query<{ u: string }>('SELECT current_user AS u')).rows[0].u;
      await c.query("INSERT INTO app.notes VALUES ('from app_boot')");
      const rows = (await c.query('SELECT body FROM app.notes')).rows;
      const denied = await c.query('CREATE TABLE app.other (n int)').then(
        () => 'allowed',
        (e: { code?: string }) => e.code,
      );
      return { who, rows, denied };
    });
    // 42501 insufficient_privilege: USAGE on the schema, not CREATE.
    expect(seen).toEqual({ who: ROLE, rows: [{ body: 'from app_boot' }], denied: '42501' });
  });

  test('re-running it (Update) changes nothing', async () => {
    const before = await stack.endpoint.iamMappings();

    const answer = await bootstrap('Update');

    expect(answer).toMatchObject({
      Status: 'SUCCESS',
      Reason: `Role ${ROLE} already existed; already granted to ${ROTATION_ROLE_ARN}; 2 SQL grant(s) applied`,
    });
    expect(await stack.endpoint.iamMappings()).toEqual(before);
  });

  test('an identity that may not connect as admin fails the resource with what to check', async () => {
    const stranger = newCredentials(); // not known to the endpoint: as a role without dsql:DbConnectAdmin

    const answer = await bootstrap('Create', stranger);

    expect(answer.Status).toBe('FAILED');
    expect(answer.Reason).toMatch(/^Role bootstrap: could not connect to localhost:\d+ as admin \(28000: .*access denied\)\. /);
    expect(answer.Reason).toContain("Check that this function's role has dsql:DbConnectAdmin on the cluster");
  });

  test('Delete revokes nothing: the mapping stays and the URL still logs in', async () => {
    const before = await stack.endpoint.iamMappings();

    const answer = await bootstrap('Delete');

    expect(answer).toMatchObject({ Status: 'SUCCESS', Reason: expect.stringMatching(/^Nothing revoked: role app_boot and its grant to /) });
    expect(await stack.endpoint.iamMappings()).toEqual(before);
    const v = await stack.readStage('AWSCURRENT');
    await expect(withPg(v.url, stack.endpoint.caFile, async (c) => (await c.query('SELECT 1 AS one')).rows)).resolves.toEqual([{ one: 1 }]);
  });

  test('no token, signature or key in any log or answer', async () => {
    const { leaks, secretsChecked } = await findLeaks({
      stack,
      texts: { 'test process output': output.text(), 'custom resource answers': JSON.stringify(responses) },
      secretAccessKeys: [stack.signer.secretAccessKey, bootstrapKey.secretAccessKey],
    });
    expect(secretsChecked).toBeGreaterThan(2);
    expect(leaks).toEqual([]);
  });
});
