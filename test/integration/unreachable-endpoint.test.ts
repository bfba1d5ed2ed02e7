/**
 * Functions in a VPC with no path to an AWS service (no NAT, no VPC endpoint): the shipped bundles must
 * fail in seconds with a message naming the endpoint and the fix, not hang until the function's timeout
 * (15 minutes for the rotation function) with "Task timed out".
 *
 * The endpoint is one whose TCP connections never complete (test/support/unreachable-endpoint.ts), as a
 * dropped SYN looks to the function.
 */
import { FunctionBundle } from '../../lib/contract';
import { STALE_PENDING_SECONDS } from '../../lib/timing';
import { functionConfigEnv, LocalStack } from '../support/local-stack';
import { startUnreachableEndpoint, UnreachableEndpoint } from '../support/unreachable-endpoint';
import { startStack } from './harness';

jest.setTimeout(120_000);

/** The SDK's 3 attempts of a 3-second connect, plus its backoff and a cold start, with room for a loaded machine. */
const FAILS_WITHIN_MS = 25_000;

describe('a function whose Secrets Manager endpoint cannot be reached', () => {
  let stack: LocalStack;
  let unreachable: UnreachableEndpoint;

  beforeAll(async () => {
    [stack, unreachable] = await Promise.all([startStack({ services: 1 }), startUnreachableEndpoint()]);
  });
  afterAll(async () => {
    await Promise.all([stack?.stop(), unreachable?.stop()]);
  });

  function expectExplained(message: string): void {
    expect(message).toMatch(new RegExp(`^could not reach 127\\.0\\.0\\.1:${unreachable.port} within \\d+ s \\(TimeoutError: `));
    expect(message).toContain('3 attempts');
    expect(message).toContain(
      'with vpc set the function needs a VPC endpoint (com.amazonaws.us-east-1.secretsmanager) or NAT for Secrets Manager ' +
        '(see README Deployment shapes)',
    );
  }

  test('the rotation function fails its step in seconds, naming the endpoint and the fix', async () => {
    const started = Date.now();
    const out = await stack.invokeFunction(
      FunctionBundle.ROTATION,
      { Step: 'createSecret', SecretId: stack.secretArn, ClientRequestToken: '11111111-2222-4333-8444-555555555555' },
      // Only Secrets Manager is unreachable; the other services still answer through the proxy.
      { env: { AWS_ENDPOINT_URL_SECRETS_MANAGER: unreachable.endpoint }, timeoutMs: 60_000 },
    );
    const elapsed = Date.now() - started;

    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.error.name).toBe('EndpointUnreachableError');
    expectExplained(out.error.message);
    expect(elapsed).toBeLessThan(FAILS_WITHIN_MS);
    // Its first call is DescribeSecret: the secret was never touched.
    expect(await stack.readStage('AWSCURRENT')).toMatchObject({ url: '' });
  });

  test('the watchdog fails in seconds, naming the endpoint and the fix', async () => {
    const started = Date.now();
    const out = await stack.invokeFunction(
      FunctionBundle.WATCHDOG,
      { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} },
      {
        awsOnly: true,
        timeoutMs: 60_000,
        env: {
          ...functionConfigEnv({
            secretArn: stack.secretArn,
            rotateBeforeExpirySeconds: 3600,
            stalePendingSeconds: STALE_PENDING_SECONDS,
            metricDimension: 'unreachable-endpoint-test',
            connectTimeoutSeconds: 5,
            boundServicesParameter: stack.parameterName,
            boundServicesParameterCount: 1,
            boundServicesFingerprint: 'local-stack',
            boundFunctionsParameter: stack.functionsParameterName,
            boundFunctionsParameterCount: 1,
            rolloutAllowanceSeconds: 0,
            redeployConcurrency: 5,
          }),
          AWS_ENDPOINT_URL: unreachable.endpoint,
        },
      },
    );
    const elapsed = Date.now() - started;

    expect(out.ok).toBe(false);
    if (out.ok) return;
    expectExplained(out.error.message);
    expect(elapsed).toBeLessThan(FAILS_WITHIN_MS);
  });
});
