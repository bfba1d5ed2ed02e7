/**
 * The shipped first-rotation bundle against the local stack (issue 9, sections 6 and 7), as CloudFormation
 * would invoke it: it reads the cluster's status from moto's DSQL API, starts the rotation with
 * RotateSecret (played by the rotate-secret interceptor, which runs the real rotation bundle's steps), and
 * answers on a local response URL. moto 5.2.1 reports CREATING then ACTIVE but never PENDING_SETUP (held
 * here with its state manager); PENDING_SETUP itself is covered with a mocked client in
 * test/functions/first-rotation.test.ts.
 */
import { CreateClusterCommand, DSQLClient } from '@aws-sdk/client-dsql';
import { ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { CustomResourceEvent, CustomResourceResponse } from '../../functions/cfn-response';
import { InitialRotationFunctionConfig } from '../../lib/contract';
import { LocalStack } from '../support/local-stack';
import { RotateSecretInterceptor, startRotateSecretInterceptor } from '../support/rotate-secret-interceptor';
import { pgSelectOne } from './clients';
import { invokeFirstRotation as runFirstRotation, ResponseEndpoint, startResponseEndpoint } from './first-rotation-runner';
import { sleep, startStack } from './harness';

jest.setTimeout(180_000);

let stack: LocalStack;
let interceptor: RotateSecretInterceptor;
let responses: ResponseEndpoint;

beforeAll(async () => {
  stack = await startStack({ services: 1, accessKeySigner: {} });
  interceptor = await startRotateSecretInterceptor({ upstream: stack.proxy.endpoint, sm: stack.sm, invokeStep: stack.invokeStep });
  responses = await startResponseEndpoint();
}, 60_000);

afterAll(async () => {
  await interceptor?.stop();
  await responses?.stop();
  await stack?.stop();
});

/** Holds moto's next DSQL clusters in CREATING for `times` GetCluster calls (moto's state manager). */
async function holdCreating(times: number): Promise<void> {
  const res = await fetch(`${stack.moto.endpoint}/moto-api/state-manager/set-transition`, {
    method: 'POST',
    body: JSON.stringify({ model_name: 'dsql::cluster', transition: { progression: 'manual', times } }),
  });
  if (!res.ok) throw new Error(`moto state manager answered ${res.status}`);
}

function firstRotationConfig(
  clusterIdentifier: string,
  overrides: Partial<InitialRotationFunctionConfig> = {},
): InitialRotationFunctionConfig {
  return {
    secretArn: stack.secretArn,
    rotationLogGroupName: 'App-DbUrlRotationFunctionLogs1A2B3C4D-EfGh5678',
    timeoutSeconds: 90,
    signerUserName: stack.accessKeySigner!.userName,
    clusterIdentifier,
    clusterRegion: 'us-east-1',
    redriveAfterSeconds: 180,
    maxRotationAttempts: 3,
    roleGrantCheck: null,
    ...overrides,
  };
}

function cfnEvent(requestType: CustomResourceEvent['RequestType']): CustomResourceEvent {
  const c = stack.rotationConfig();
  return {
    RequestType: requestType,
    ResponseURL: responses.url,
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/app/1',
    RequestId: `req-${responses.received.length + 1}`,
    LogicalResourceId: 'DbInitialRotation',
    ResourceType: 'Custom::DsqlUrlSecretInitialRotation',
    ResourceProperties: {
      SecretArn: stack.secretArn,
      UrlSettings: { Host: c.host, Port: String(c.port), Database: c.database, Username: c.username, UrlQuery: c.urlQuery },
      SignerArn: `arn:aws:iam::123456789012:user/${stack.accessKeySigner!.userName}`,
    },
    ...(requestType === 'Create' ? {} : { PhysicalResourceId: stack.secretArn }),
  };
}

function invokeFirstRotation(event: CustomResourceEvent, config: InitialRotationFunctionConfig): Promise<CustomResourceResponse> {
  return runFirstRotation(stack, interceptor, responses, event, config);
}

describe('first rotation against the local stack', () => {
  test('Create: waits while the cluster is CREATING, then rotates; AWSCURRENT authenticates', async () => {
    await holdCreating(3);
    const cluster = await new DSQLClient(stack.moto.clientConfig()).send(new CreateClusterCommand({}));

    const response = await invokeFirstRotation(cfnEvent('Create'), firstRotationConfig(cluster.identifier!));

    expect(response.Status).toBe('SUCCESS');
    expect(response.Reason).toMatch(/^The first rotation of .* completed: version .* is AWSCURRENT$/);
    const logs = stack.handlerLogs.join('\n');
    expect(logs).toContain('waiting for the cluster to accept connections before rotating');
    expect(logs).toContain('"status":"CREATING"');
    expect(logs).toContain('the cluster is ready');
    expect(interceptor.rotations).toHaveLength(1);
    const current = await stack.readStage('AWSCURRENT');
    expect(await pgSelectOne(current.url, stack.endpoint.caFile)).toBe(1);
  });

  test('Delete while a rotation runs: rotation is stopped, and the signer user is left with no access key', async () => {
    // GIVEN the user has the key of the current URL, and a slow rotation has just started
    const userName = stack.accessKeySigner!.userName;
    const keysBefore = await stack.iam.send(new ListAccessKeysCommand({ UserName: userName }));
    expect(keysBefore.AccessKeyMetadata!.length).toBeGreaterThan(0);
    interceptor.stepDelayMs = 2_000;
    const started = interceptor.rotations.length;
    const rotate = fetch(interceptor.endpoint, {
      method: 'POST',
      headers: { 'x-amz-target': 'secretsmanager.RotateSecret', 'content-type': 'application/x-amz-json-1.1' },
      body: JSON.stringify({ SecretId: stack.secretArn }),
    });
    await rotate;
    await sleep(200);
    expect(interceptor.rotations.length).toBe(started + 1);

    // WHEN CloudFormation deletes the custom resource
    const response = await invokeFirstRotation(cfnEvent('Delete'), firstRotationConfig('unused-on-delete-00000000000'));
    await interceptor.idle();
    interceptor.stepDelayMs = 0;

    // THEN
    expect(response.Status).toBe('SUCCESS');
    const keysAfter = await stack.iam.send(new ListAccessKeysCommand({ UserName: userName }));
    expect(keysAfter.AccessKeyMetadata).toEqual([]);
    const metadata = await stack.sm.send(new DescribeSecretCommand({ SecretId: stack.secretArn }));
    expect(metadata.RotationEnabled).toBe(false);
    // The rotation that was running never got past its guard again: no step wrote a key after the Delete.
    expect(interceptor.rotations[started].error?.message ?? '').toMatch(/does not have rotation enabled|not set as AWSPENDING/);
  });
});
