/**
 * A configuration change on a live stack, end to end: the shipped first-rotation bundle answers
 * CloudFormation's Create, then an Update whose UrlSettings changed (the database and the URL
 * parameters), as CloudFormation sends it after updating the rotation function's configuration. The
 * rotations run through the RotateSecret interceptor with the shipped rotation bundle. After the
 * Update, AWSCURRENT carries the new settings and authenticates to the new database, and the bound
 * services were redeployed; an Update that changes nothing rotates nothing.
 */
import { createServer, Server } from 'http';
import { AddressInfo } from 'net';
import { CreateClusterCommand, DSQLClient } from '@aws-sdk/client-dsql';
import { Client } from 'pg';
import { InitialRotationProperties, UrlSettingsProperties } from '../../lib/configuration-change';
import { FunctionBundle, InitialRotationFunctionConfig, RotationFunctionConfig } from '../../lib/contract';
import { CustomResourceResponse } from '../../functions/cfn-response';
import { functionConfigEnv, LocalStack } from '../support/local-stack';
import { grantRoleTo } from '../support/local-admin-sql';
import { RotateSecretInterceptor, startRotateSecretInterceptor } from '../support/rotate-secret-interceptor';
import { withPg } from './clients';
import { captureOutput, changed, deploymentIds, findLeaks, stagesOf, startStack } from './harness';

const NEW_DATABASE = 'orders';
const NEW_QUERY = 'sslmode=require&application_name=orders-api';
/** A custom role the local PostgreSQL has (postgres-server.ts). */
const NEW_ROLE = 'app_rw';

describe('a configuration change on a live stack (2 services)', () => {
  let stack: LocalStack;
  let interceptor: RotateSecretInterceptor;
  let output: ReturnType<typeof captureOutput>;
  let responses: CustomResourceResponse[];
  let server: Server;
  let responseUrl: string;
  let crConfig: InitialRotationFunctionConfig;
  /** What the rotation function's configuration says now (a stack update changes it before the custom resource runs). */
  let rotationConfig: Partial<RotationFunctionConfig> = {};

  const settings = (change: Partial<UrlSettingsProperties> = {}): UrlSettingsProperties => {
    const c = stack.rotationConfig(rotationConfig);
    return { Host: c.host, Port: String(c.port), Database: c.database, Username: c.username, UrlQuery: c.urlQuery, ...change };
  };
  const properties = (): InitialRotationProperties => ({
    SecretArn: stack.secretArn,
    UrlSettings: settings(),
    SignerArn: 'arn:aws:iam::123456789012:role/r',
  });

  /** Runs the shipped first-rotation bundle on one CloudFormation event; returns what it PUT to the response URL. */
  async function customResource(RequestType: 'Create' | 'Update', old?: InitialRotationProperties): Promise<CustomResourceResponse> {
    const before = responses.length;
    const result = await stack.invokeFunction(
      FunctionBundle.INITIAL_ROTATION,
      {
        RequestType,
        ResponseURL: responseUrl,
        StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/app/1',
        RequestId: `req-${before + 1}`,
        LogicalResourceId: 'DbInitialRotation',
        ...(RequestType === 'Update' ? { PhysicalResourceId: stack.secretArn, OldResourceProperties: old } : {}),
        ResourceProperties: properties(),
      },
      { awsOnly: true, env: { ...functionConfigEnv(crConfig), AWS_ENDPOINT_URL: interceptor.endpoint }, timeoutMs: 120_000 },
    );
    expect(result.ok).toBe(true);
    expect(responses).toHaveLength(before + 1);
    return responses[before];
  }

  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({ services: 2 });
    // The new database exists before the change, as an application's migration would create it.
    const admin = new Client({ host: '127.0.0.1', port: stack.postgres.port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${NEW_DATABASE} OWNER admin`);
    await admin.end();
    // GetCluster before the first rotation: the cluster must exist (moto's DSQL control plane).
    const cluster = await new DSQLClient(stack.moto.clientConfig()).send(new CreateClusterCommand({}));
    crConfig = {
      secretArn: stack.secretArn,
      rotationLogGroupName: 'App-DbUrlRotationFunctionLogs1A2B3C4D-EfGh5678',
      timeoutSeconds: 90,
      signerUserName: null,
      clusterIdentifier: cluster.identifier!,
      clusterRegion: 'us-east-1',
      redriveAfterSeconds: 60,
      maxRotationAttempts: 2,
      roleGrantCheck: null,
    };
    interceptor = await startRotateSecretInterceptor({
      upstream: stack.proxy.endpoint,
      sm: stack.sm,
      invokeStep: (step, token) => stack.invokeStep(step, token, { config: rotationConfig }),
    });
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
    responseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cfn-response`;
  }, 180_000);

  afterAll(async () => {
    await interceptor?.stop();
    await new Promise((resolve) => server?.close(resolve));
    await stack?.stop();
    output?.restore();
  });

  test('Create: the first rotation replaces the placeholder with a URL for the configured settings', async () => {
    const placeholder = await stack.readStage('AWSCURRENT');
    expect(placeholder.url).toBe('');
    expect(placeholder.host).toBe('');

    const response = await customResource('Create');

    expect(response).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: stack.secretArn });
    const current = await stack.readStage('AWSCURRENT');
    expect(current).toMatchObject({ dbname: 'postgres', username: 'admin' });
    expect(
      await withPg(current.url, stack.endpoint.caFile, async (c) => (await c.query('SELECT current_database() AS db')).rows[0].db),
    ).toBe('postgres');
  }, 150_000);

  test('Update after a change of database and URL parameters: AWSCURRENT carries them and authenticates; services redeployed', async () => {
    const old = properties();
    const before = await stack.readStage('AWSCURRENT');
    const deploymentsBefore = await deploymentIds(stack, stack.serviceArns);
    // CloudFormation updates the rotation function's configuration first (the custom resource depends on it).
    rotationConfig = { database: NEW_DATABASE, urlQuery: NEW_QUERY };

    const response = await customResource('Update', old);

    expect(response).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: stack.secretArn });
    const current = await stack.readStage('AWSCURRENT');
    expect(current.password).not.toBe(before.password);
    expect(current).toMatchObject({ dbname: NEW_DATABASE, username: 'admin', host: stack.endpoint.host });
    expect(current.url.endsWith(`/${NEW_DATABASE}?${NEW_QUERY}`)).toBe(true);
    const seen = await withPg(current.url, stack.endpoint.caFile, async (c) => {
      const row = (await c.query('SELECT current_database() AS db, current_setting($1) AS app', ['application_name'])).rows[0];
      return { db: row.db as string, app: row.app as string };
    });
    expect(seen).toEqual({ db: NEW_DATABASE, app: 'orders-api' });
    // The rotation's finishSecret redeployed every bound service: no task keeps the old URL.
    expect(changed(deploymentsBefore, await deploymentIds(stack, stack.serviceArns))).toEqual(stack.serviceArns);
    expect(Object.values(await stagesOf(stack)).filter((s) => s.includes('AWSPENDING') && !s.includes('AWSCURRENT'))).toEqual([]);
  }, 150_000);

  test('Update after a change of role (granted to the signer): AWSCURRENT logs in as the new role', async () => {
    const old = properties();
    // An admin granted the role to the signer beforehand, as the role bootstrap does for a custom role.
    const target = {
      endpoint: stack.endpoint,
      region: 'us-east-1',
      knownCredentials: stack.knownCredentials,
      identityArns: stack.identityArns,
    };
    await grantRoleTo(target, NEW_ROLE, stack.signerArn);
    rotationConfig = { ...rotationConfig, username: NEW_ROLE };

    const response = await customResource('Update', old);

    expect(response).toMatchObject({ Status: 'SUCCESS' });
    const current = await stack.readStage('AWSCURRENT');
    expect(current).toMatchObject({ username: NEW_ROLE, dbname: NEW_DATABASE });
    const who = await withPg(current.url, stack.endpoint.caFile, async (c) => {
      const row = (await c.query('SELECT current_user AS u, current_database() AS db')).rows[0];
      return { user: row.u as string, db: row.db as string };
    });
    expect(who).toEqual({ user: NEW_ROLE, db: NEW_DATABASE });
  }, 150_000);

  test('an Update that changes nothing the URL is made of rotates nothing', async () => {
    const before = await stagesOf(stack);
    const rotations = interceptor.rotations.length;

    const response = await customResource('Update', properties());

    expect(response).toMatchObject({ Status: 'SUCCESS', Reason: `The secret ${stack.secretArn} already holds a URL; nothing to do` });
    expect(interceptor.rotations).toHaveLength(rotations);
    expect(await stagesOf(stack)).toEqual(before);
  }, 60_000);

  test('no token, signature or key in any log line', async () => {
    const { leaks, secretsChecked } = await findLeaks({
      stack,
      texts: { 'test process output': output.text() },
      secretAccessKeys: [stack.signer.secretAccessKey],
    });
    expect(secretsChecked).toBeGreaterThan(4);
    expect(leaks).toEqual([]);
  });
});
