import * as http from 'http';
import * as net from 'net';
import { AddressInfo } from 'net';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  AWS_CLIENT_OPTIONS,
  AwsServices,
  CONNECT_TIMEOUT_MS,
  EndpointUnreachableError,
  explainUnreachable,
  isNoResponseError,
  REQUEST_TIMEOUT_MS,
  unreachableMessage,
} from '../../functions/aws-clients';
import { freePort } from '../support/free-port';

const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-secret' };

/** A Secrets Manager client like the functions', with timeouts short enough for a unit test. */
function clientFor(endpoint: string, timeouts = { connectionTimeout: 300, requestTimeout: 300 }): SecretsManagerClient {
  const client = new SecretsManagerClient({
    region: 'eu-west-1',
    endpoint,
    credentials: CREDENTIALS,
    maxAttempts: 2,
    requestHandler: { ...timeouts, throwOnRequestTimeout: true },
  });
  return explainUnreachable(client, AwsServices.SECRETS_MANAGER, () => 'eu-west-1');
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

describe('AWS client options', () => {
  test('every client connects within seconds and throws when a request outlives its timeout', () => {
    expect(AWS_CLIENT_OPTIONS.requestHandler).toEqual({
      connectionTimeout: CONNECT_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    });
    // With the SDK's 3 attempts, a missing path fails in well under a minute (the watchdog's own timeout).
    expect(3 * CONNECT_TIMEOUT_MS).toBeLessThanOrEqual(15_000);
    expect(3 * REQUEST_TIMEOUT_MS).toBeLessThan(60_000);
  });
});

describe('explainUnreachable', () => {
  const servers: net.Server[] = [];
  const sockets: net.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const s of servers.splice(0)) {
      (s as http.Server).closeAllConnections?.();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  test('an endpoint that accepts and never answers fails within the timeouts, naming the host and the fix', async () => {
    // GIVEN a TCP server that takes the connection and says nothing
    const silent = net.createServer((socket) => void sockets.push(socket));
    servers.push(silent);
    const port = await listen(silent);
    const sm = clientFor(`http://127.0.0.1:${port}`);
    // WHEN
    const started = Date.now();
    const err = await failureOf(sm.send(new DescribeSecretCommand({ SecretId: 'app/db-url' })));
    // THEN
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err).toBeInstanceOf(EndpointUnreachableError);
    expect(err.message).toMatch(new RegExp(`^could not reach 127\\.0\\.0\\.1:${port} within \\d+ s \\(`));
    expect(err.message).toContain('TimeoutError');
    expect(err.message).toContain('2 attempts');
    expect(err.message).toContain(
      'with vpc set the function needs a VPC endpoint (com.amazonaws.eu-west-1.secretsmanager) or NAT for Secrets Manager',
    );
    expect(err.message).toContain('(see README Deployment shapes)');
    expect((err as EndpointUnreachableError).host).toBe(`127.0.0.1:${port}`);
  });

  test('a refused connection is explained the same way', async () => {
    const port = await freePort();
    const err = await failureOf(clientFor(`http://127.0.0.1:${port}`).send(new DescribeSecretCommand({ SecretId: 'x' })));
    expect(err).toBeInstanceOf(EndpointUnreachableError);
    expect(err.message).toMatch(new RegExp(`^could not reach 127\\.0\\.0\\.1:${port} within \\d+ s \\(ECONNREFUSED: connect ECONNREFUSED`));
  });

  test('an answer from the service, even an error, passes unchanged', async () => {
    const answering = http.createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }));
    });
    servers.push(answering);
    const port = await listen(answering);
    const err = await failureOf(clientFor(`http://127.0.0.1:${port}`).send(new DescribeSecretCommand({ SecretId: 'x' })));
    expect(err.name).toBe('ResourceNotFoundException');
    expect(err).not.toBeInstanceOf(EndpointUnreachableError);
  });

  test('a successful call is untouched', async () => {
    const answering = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x', Name: 'x' }));
    });
    servers.push(answering);
    const port = await listen(answering);
    const out = await clientFor(`http://127.0.0.1:${port}`).send(new DescribeSecretCommand({ SecretId: 'x' }));
    expect(out.Name).toBe('x');
  });
});

describe('isNoResponseError', () => {
  test.each([
    [{ name: 'TimeoutError', message: 'socket did not establish a connection' }, true],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), true],
    [Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }), true],
    [new Error('AWS SDK error wrapper for Error: connect ECONNREFUSED 127.0.0.1:1'), true],
    // An HTTP status means the endpoint answered: the path works, whatever the error.
    [{ name: 'TimeoutError', $metadata: { httpStatusCode: 504 } }, false],
    [{ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }, false],
    [new Error('anything else'), false],
    [null, false],
  ])('%p -> %p', (err, expected) => {
    expect(isNoResponseError(err)).toBe(expected);
  });
});

describe('unreachableMessage', () => {
  const base = {
    host: 'secretsmanager.eu-west-1.amazonaws.com',
    region: 'eu-west-1',
    elapsedMs: 9_400,
    attempts: 3,
    reason: 'TimeoutError',
    cause: { message: 'the request socket did not establish a connection within 3000 ms' },
  };

  test.each([
    [AwsServices.SECRETS_MANAGER, 'a VPC endpoint (com.amazonaws.eu-west-1.secretsmanager) or NAT for Secrets Manager'],
    [AwsServices.SSM, 'a VPC endpoint (com.amazonaws.eu-west-1.ssm) or NAT for SSM'],
    [AwsServices.ECS, 'a VPC endpoint (com.amazonaws.eu-west-1.ecs) or NAT for ECS'],
  ])('%p names its interface endpoint', (service, fix) => {
    expect(unreachableMessage({ ...base, service })).toBe(
      'could not reach secretsmanager.eu-west-1.amazonaws.com within 9 s ' +
        '(TimeoutError: the request socket did not establish a connection within 3000 ms, 3 attempts): ' +
        `with vpc set the function needs ${fix} (see README Deployment shapes)`,
    );
  });

  test('IAM: NAT, because its only interface endpoint is in us-east-1', () => {
    expect(unreachableMessage({ ...base, host: 'iam.amazonaws.com', service: AwsServices.IAM })).toContain(
      'with vpc set the function needs NAT for IAM (its interface endpoint, com.amazonaws.iam, exists only in us-east-1)',
    );
  });
});
