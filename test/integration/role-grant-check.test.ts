/**
 * A custom role with the bootstrap turned off (DatabaseRole.custom(name, { bootstrap: false })), end
 * to end: the shipped first-rotation bundle, as CloudFormation invokes it, starts the rotation (played
 * by the rotate-secret interceptor with the real rotation bundle's steps), sees DSQL refuse the
 * pending token for the role, and fails within seconds with the exact lines to run. Run as admin,
 * those very lines make the next attempt pass.
 */
import { CreateClusterCommand, DSQLClient } from '@aws-sdk/client-dsql';
import { CustomResourceEvent, CustomResourceResponse } from '../../functions/cfn-response';
import { InitialRotationFunctionConfig } from '../../lib/contract';
import { runAsAdmin } from '../support/local-admin-sql';
import { LocalStack, ROTATION_ROLE_ARN } from '../support/local-stack';
import { RotateSecretInterceptor, startRotateSecretInterceptor } from '../support/rotate-secret-interceptor';
import { invokeFirstRotation, ResponseEndpoint, startResponseEndpoint } from './first-rotation-runner';
import { abandonPending, blockingPending, stagesOf, startStack } from './harness';
import { pgSelectOne } from './clients';

jest.setTimeout(180_000);

const ROLE = 'app_self';
let stack: LocalStack;
let interceptor: RotateSecretInterceptor;
let responses: ResponseEndpoint;
let config: InitialRotationFunctionConfig;

beforeAll(async () => {
  // The team manages roles itself and has not granted this one yet.
  stack = await startStack({ username: ROLE, grantRoleToSigner: false, services: 1 });
  interceptor = await startRotateSecretInterceptor({ upstream: stack.proxy.endpoint, sm: stack.sm, invokeStep: stack.invokeStep });
  responses = await startResponseEndpoint();
  const cluster = await new DSQLClient(stack.moto.clientConfig()).send(new CreateClusterCommand({}));
  config = {
    secretArn: stack.secretArn,
    rotationLogGroupName: 'App-DbUrlRotationFunctionLogs1A2B3C4D-EfGh5678',
    timeoutSeconds: 120,
    signerUserName: null,
    clusterIdentifier: cluster.identifier!,
    clusterRegion: 'us-east-1',
    redriveAfterSeconds: 180,
    maxRotationAttempts: 3,
    // As the construct writes it, with a shorter grace so the test takes seconds.
    roleGrantCheck: { roleName: ROLE, signerArn: stack.signerArn, graceSeconds: 5, connectTimeoutSeconds: 5 },
  };
}, 60_000);

afterAll(async () => {
  await interceptor?.stop();
  await responses?.stop();
  await stack?.stop();
});

async function firstRotation(): Promise<CustomResourceResponse> {
  const c = stack.rotationConfig();
  const event: CustomResourceEvent = {
    RequestType: 'Create',
    ResponseURL: responses.url,
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/app/1',
    RequestId: `req-${responses.received.length + 1}`,
    LogicalResourceId: 'DbInitialRotation',
    ResourceProperties: {
      SecretArn: stack.secretArn,
      UrlSettings: { Host: c.host, Port: String(c.port), Database: c.database, Username: c.username, UrlQuery: c.urlQuery },
      SignerArn: stack.signerArn,
    },
  };
  return invokeFirstRotation(stack, interceptor, responses, event, config);
}

describe('custom role with bootstrap: false', () => {
  let lines: string;

  test('the first rotation fails within seconds, not minutes, with the exact lines to run', async () => {
    const started = Date.now();

    const response = await firstRotation();

    expect(response.Status).toBe('FAILED');
    expect(response.Reason).toMatch(/^The first rotation cannot pass: DSQL refuses the signer's tokens for database role app_self/);
    lines = `CREATE ROLE ${ROLE} WITH LOGIN; AWS IAM GRANT ${ROLE} TO '${ROTATION_ROLE_ARN}';`;
    expect(response.Reason).toContain(`as admin, run ${lines} and deploy again`);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(stack.endpoint.stats.rejections.at(-1)).toEqual({ user: ROLE, reason: expect.stringMatching(/^role app_self is not granted/) });
  });

  test('after an admin runs those lines as given, the next deploy passes and the URL logs in as the role', async () => {
    // What the failed deploy leaves: the rotation Secrets Manager gave up on keeps its AWSPENDING label.
    await Promise.all(interceptor.rotations.map((r) => r.done));
    for (const version of blockingPending(await stagesOf(stack))) await abandonPending(stack, version);
    await runAsAdmin(
      { ...stack, region: 'us-east-1' },
      lines.split(';').filter((l) => l.trim() !== ''),
    );

    const response = await firstRotation();

    expect(response).toMatchObject({ Status: 'SUCCESS', Reason: expect.stringMatching(/^The first rotation of .* completed/) });
    const current = await stack.readStage('AWSCURRENT');
    expect(current.username).toBe(ROLE);
    expect(await pgSelectOne(current.url, stack.endpoint.caFile)).toBe(1);
  });
});
