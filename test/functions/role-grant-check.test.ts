import { createServer, Server } from 'http';
import { AddressInfo } from 'net';
import { DSQLClient, GetClusterCommand } from '@aws-sdk/client-dsql';
import { DescribeSecretCommand, GetSecretValueCommand, RotateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { DsqlUrlSecretValue, FUNCTION_CONFIG_ENV, FunctionBundle, RoleGrantCheckConfig } from '../../lib/contract';
import { readFunctionConfig } from '../../functions/config';
import { ConnectionCheckError } from '../../functions/connection-check';
import { CustomResourceResponse } from '../../functions/cfn-response';
import { runInitialRotation } from '../../functions/initial-rotation';
import { ConnectionCheck, grantLines, newRoleGrantCheck } from '../../functions/role-grant-check';
import { HOST, OLD_VERSION, SECRET_ARN, TOKEN } from './fixtures';
import { configEnv, initialRotationConfig } from './fixtures-config';
import { placeholderValue } from './fixtures-secrets-manager';
import { valueSignedWith } from './fixtures-tokens';
import { newFakeAccessKey } from './fixtures-iam';

const smMock = mockClient(SecretsManagerClient);
const dsqlMock = mockClient(DSQLClient);
const SIGNER_ARN = 'arn:aws:iam::123456789012:role/app-DbRotationFunctionServiceRole-AbC123';
const CHECK: RoleGrantCheckConfig = { roleName: 'app_rw', signerArn: SIGNER_ARN, graceSeconds: 45, connectTimeoutSeconds: 10 };
const GRANT_LINE = `CREATE ROLE app_rw WITH LOGIN; AWS IAM GRANT app_rw TO '${SIGNER_ARN}';`;

const refused = () => new ConnectionCheckError("testSecret: DSQL rejected the new token at host:5432 as 'app_rw' (access denied)", 'auth');
let pending: DsqlUrlSecretValue;

beforeEach(async () => {
  smMock.reset();
  dsqlMock.reset();
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
  pending = { ...(await valueSignedWith(newFakeAccessKey())), username: 'app_rw' };
  smMock.on(GetSecretValueCommand, { SecretId: SECRET_ARN, VersionId: TOKEN, VersionStage: 'AWSPENDING' }).callsFake(() => ({
    SecretString: JSON.stringify(pending),
  }));
});
afterEach(() => jest.restoreAllMocks());
afterAll(() => {
  smMock.restore();
  dsqlMock.restore();
});

/** A fake clock and a connection check whose outcome the test sets. */
function arrange(outcome: () => Promise<void>) {
  const t = { now: 0 };
  const calls: Array<{ username: string; timeoutSeconds: number }> = [];
  const check: ConnectionCheck = async (value, timeoutSeconds) => {
    calls.push({ username: value.username, timeoutSeconds });
    return outcome();
  };
  const run = newRoleGrantCheck({ sm: new SecretsManagerClient({}), secretArn: SECRET_ARN, config: CHECK, now: () => t.now, check });
  return { t, calls, run };
}

describe('the first rotation with a custom role the team grants itself', () => {
  test('a refusal fails the wait once it has lasted graceSeconds, with the exact lines to run', async () => {
    const { t, calls, run } = arrange(() => Promise.reject(refused()));
    await run(TOKEN);
    t.now += 40_000;
    await run(TOKEN);
    t.now += 5_000;
    const failure = run(TOKEN);
    await expect(failure).rejects.toThrow(
      /^The first rotation cannot pass: DSQL refuses the signer's tokens for database role app_rw \(still after 45 s\)\. /,
    );
    await expect(failure).rejects.toThrow(
      `DatabaseRole.custom('app_rw', { bootstrap: false }) leaves creating and granting the role to you`,
    );
    await expect(failure).rejects.toThrow(`as admin, run ${GRANT_LINE} and deploy again`);
    await expect(failure).rejects.toThrow(/'cdk deploy --no-rollback'/);
    expect(calls).toEqual(Array(3).fill({ username: 'app_rw', timeoutSeconds: 10 }));
    expect(grantLines('app_rw', SIGNER_ARN)).toBe(GRANT_LINE);
  });

  test('a token that connects resets the count; other failures (network, TLS) are left to the wait', async () => {
    let outcome: 'refused' | 'ok' | 'network' = 'refused';
    const { t, run } = arrange(() =>
      outcome === 'ok'
        ? Promise.resolve()
        : Promise.reject(outcome === 'refused' ? refused() : new ConnectionCheckError('could not reach', 'network')),
    );
    await run(TOKEN);
    t.now += 30_000;
    outcome = 'ok';
    await run(TOKEN);
    outcome = 'refused';
    t.now += 30_000;
    await run(TOKEN); // refused again: the 45 s count starts over here
    outcome = 'network';
    t.now += 60_000;
    await expect(run(TOKEN)).resolves.toBeUndefined();
  });

  test('no pending value yet, or the placeholder: nothing is tried', async () => {
    const { calls, run } = arrange(() => Promise.reject(refused()));
    smMock.on(GetSecretValueCommand).rejects(Object.assign(new Error('no such version'), { name: 'ResourceNotFoundException' }));
    await run(TOKEN);
    smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(placeholderValue()) });
    await run(TOKEN);
    expect(calls).toEqual([]);
  });

  test('through the custom resource: FAILED about a minute into the 10-minute wait, naming the grant', async () => {
    let server: Server | undefined;
    const received: CustomResourceResponse[] = [];
    try {
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          received.push(JSON.parse(body) as CustomResourceResponse);
          res.writeHead(200).end();
        });
      });
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      dsqlMock.on(GetClusterCommand).resolves({ status: 'ACTIVE' });
      smMock.on(GetSecretValueCommand, { SecretId: SECRET_ARN, VersionStage: 'AWSCURRENT' }).resolves({
        SecretString: JSON.stringify(placeholderValue()),
      });
      let rotating = false;
      smMock.on(DescribeSecretCommand).callsFake(() => ({
        ARN: SECRET_ARN,
        RotationEnabled: true,
        VersionIdsToStages: rotating ? { [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] } : { [OLD_VERSION]: ['AWSCURRENT'] },
      }));
      smMock.on(RotateSecretCommand).callsFake(() => {
        rotating = true;
        return { ARN: SECRET_ARN, VersionId: TOKEN };
      });
      const t = { now: Date.parse('2030-01-01T00:00:00Z') };
      const started = t.now;

      const out = await runInitialRotation(
        {
          RequestType: 'Create',
          ResponseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/r`,
          StackId: 'stack',
          RequestId: 'req',
          LogicalResourceId: 'DbInitialRotation',
          ResourceProperties: {
            SecretArn: SECRET_ARN,
            UrlSettings: { Host: HOST, Port: '5432', Database: 'postgres', Username: 'app_rw', UrlQuery: 'sslmode=require' },
            SignerArn: SIGNER_ARN,
          },
        },
        undefined,
        {
          env: configEnv(initialRotationConfig({ roleGrantCheck: CHECK })),
          sm: new SecretsManagerClient({}),
          dsql: new DSQLClient({}),
          now: () => t.now,
          sleep: async (ms) => {
            t.now += ms;
          },
          responseRetryDelaysMs: [1],
          connectionCheck: () => Promise.reject(refused()),
        },
      );

      expect(out.Status).toBe('FAILED');
      expect(out.Reason).toContain(GRANT_LINE);
      expect(t.now - started).toBeLessThanOrEqual(60_000);
      expect(received).toEqual([out]);
    } finally {
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    }
  });
});

describe("readFunctionConfig: the first rotation's roleGrantCheck", () => {
  const read = (roleGrantCheck: unknown) =>
    readFunctionConfig(FunctionBundle.INITIAL_ROTATION, configEnv({ ...initialRotationConfig(), roleGrantCheck })).roleGrantCheck;

  test('null (admin, or the bootstrap grants the role) or the role, the signer, the grace and the timeout', () => {
    expect(read(null)).toBeNull();
    expect(read(CHECK)).toEqual(CHECK);
  });

  test.each([
    ['a string', 'app_rw', 'roleGrantCheck must be an object or null, got a string'],
    ['no signer', { ...CHECK, signerArn: undefined }, 'roleGrantCheck.signerArn is missing'],
    [
      'a negative grace',
      { ...CHECK, graceSeconds: -1 },
      'roleGrantCheck.graceSeconds must be a non-negative integer, got a negative number',
    ],
    ['an unknown field', { ...CHECK, grants: [] }, 'roleGrantCheck.grants is not a known field'],
  ])('%s is refused', (_what, value, message) => {
    expect(() => read(value)).toThrow(`${FUNCTION_CONFIG_ENV}.${message}`);
  });
});
