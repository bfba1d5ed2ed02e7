import { createServer, Server } from 'http';
import { AddressInfo } from 'net';
import { FUNCTION_CONFIG_ENV, FunctionBundle, RoleBootstrapFunctionConfig } from '../../lib/contract';
import { readFunctionConfig } from '../../functions/config';
import { CustomResourceEvent, CustomResourceResponse } from '../../functions/cfn-response';
import { handler as roleBootstrapEntry } from '../../functions/entry/role-bootstrap';
import { runRoleBootstrap } from '../../functions/role-bootstrap';
import { SqlSession } from '../../functions/role-bootstrap-sql';
import { HOST, REGION } from './fixtures';

const SIGNER_ARN = 'arn:aws:iam::123456789012:role/app-DbRotationFunctionServiceRole-AbC123';
const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/app/1a2b3c4d';

function bootstrapConfig(overrides: Partial<RoleBootstrapFunctionConfig> = {}): RoleBootstrapFunctionConfig {
  return {
    host: HOST,
    port: 5432,
    region: REGION,
    database: 'postgres',
    roleName: 'app_rw',
    signerArn: SIGNER_ARN,
    grants: ['USAGE ON SCHEMA app', 'SELECT, INSERT ON ALL TABLES IN SCHEMA app'],
    connectTimeoutSeconds: 10,
    ...overrides,
  };
}
const env = (config: object = bootstrapConfig()) => ({ [FUNCTION_CONFIG_ENV]: JSON.stringify(config) });

/** A database that knows roles and IAM mappings the way DSQL's catalog shows them, and records each statement. */
class FakeDatabase implements SqlSession {
  readonly roles = new Set<string>(['admin']);
  readonly mappings = new Set<string>();
  readonly statements: string[] = [];
  ended = false;
  /** A statement matching this fails once with `error`. */
  failOn?: { match: RegExp; error: { code: string; message: string } };

  async query(text: string): Promise<{ rows: Array<Record<string, unknown>> }> {
    this.statements.push(text);
    if (this.failOn?.match.test(text)) {
      const { error } = this.failOn;
      this.failOn = undefined;
      throw Object.assign(new Error(error.message), { code: error.code });
    }
    let m = /^SELECT 1 FROM pg_roles WHERE rolname = '([a-z_]+)'$/.exec(text);
    if (m) return { rows: this.roles.has(m[1]) ? [{ '?column?': 1 }] : [] };
    m = /^SELECT 1 FROM sys\.iam_pg_role_mappings WHERE pg_role_name = '([a-z_]+)' AND arn = '([^']+)'$/.exec(text);
    if (m) return { rows: this.mappings.has(`${m[1]} ${m[2]}`) ? [{ '?column?': 1 }] : [] };
    m = /^CREATE ROLE "([a-z_]+)" WITH LOGIN$/.exec(text);
    if (m) {
      this.roles.add(m[1]);
      return { rows: [] };
    }
    m = /^AWS IAM GRANT ([a-z_]+) TO '([^']+)'$/.exec(text);
    if (m) {
      this.mappings.add(`${m[1]} ${m[2]}`);
      return { rows: [] };
    }
    if (/^GRANT .* TO "app_rw"$/.test(text)) return { rows: [] };
    throw new Error(`unexpected statement: ${text}`);
  }

  async end(): Promise<void> {
    this.ended = true;
  }
}

let server: Server;
let baseUrl: string;
let received: CustomResourceResponse[];
beforeAll(async () => {
  server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      received.push(JSON.parse(data) as CustomResourceResponse);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => {
  received = [];
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());

function event(RequestType: CustomResourceEvent['RequestType'], overrides: Partial<CustomResourceEvent> = {}): CustomResourceEvent {
  return {
    RequestType,
    ResponseURL: `${baseUrl}/cfn-response?X-Amz-Signature=presigned`,
    StackId: STACK_ID,
    RequestId: 'req-1',
    LogicalResourceId: 'DbRoleBootstrap',
    ResourceType: 'Custom::DsqlUrlSecretRoleBootstrap',
    ResourceProperties: { RoleName: 'app_rw', SignerArn: SIGNER_ARN },
    ...(RequestType === 'Create' ? {} : { PhysicalResourceId: `app_rw@${HOST}` }),
    ...overrides,
  };
}

/** Runs one request; its answer is the one PUT to the ResponseURL. */
async function run(db: FakeDatabase, e: CustomResourceEvent, config: object = bootstrapConfig()) {
  received = [];
  const out = await runRoleBootstrap(e, { env: env(config), connect: async () => db, responseRetryDelaysMs: [1] });
  expect(received).toEqual([out]);
  return out;
}

describe('role bootstrap custom resource', () => {
  test('Create: creates the missing role, grants it to the signer, then runs the SQL grants, in that order', async () => {
    const db = new FakeDatabase();

    const out = await run(db, event('Create'));

    expect(out).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: `app_rw@${HOST}`, LogicalResourceId: 'DbRoleBootstrap' });
    expect(out.Reason).toBe(`Role app_rw created; granted to ${SIGNER_ARN}; 2 SQL grant(s) applied`);
    expect(db.statements).toEqual([
      "SELECT 1 FROM pg_roles WHERE rolname = 'app_rw'",
      'CREATE ROLE "app_rw" WITH LOGIN',
      `SELECT 1 FROM sys.iam_pg_role_mappings WHERE pg_role_name = 'app_rw' AND arn = '${SIGNER_ARN}'`,
      `AWS IAM GRANT app_rw TO '${SIGNER_ARN}'`,
      'GRANT USAGE ON SCHEMA "app" TO "app_rw"',
      'GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA "app" TO "app_rw"',
    ]);
    expect(db.ended).toBe(true);
  });

  test('a re-run changes nothing: the role and the mapping are found, only the (idempotent) SQL grants run again', async () => {
    const db = new FakeDatabase();
    await run(db, event('Create'));
    db.statements.length = 0;

    const out = await run(db, event('Update'));

    expect(out.Reason).toBe(`Role app_rw already existed; already granted to ${SIGNER_ARN}; 2 SQL grant(s) applied`);
    expect(db.statements.filter((s) => /^(CREATE|AWS IAM)/.test(s))).toEqual([]);
    expect(db.statements.filter((s) => s.startsWith('GRANT '))).toHaveLength(2);
  });

  test('a role an admin already created is only granted; a new signer (Update) gets its own mapping', async () => {
    const db = new FakeDatabase();
    db.roles.add('app_rw');
    await run(db, event('Create'), bootstrapConfig({ grants: [] }));
    const newSigner = 'arn:aws:iam::123456789012:user/app-DbSignerUser-XyZ';

    const out = await run(db, event('Update'), bootstrapConfig({ grants: [], signerArn: newSigner }));

    expect(out.Reason).toBe(`Role app_rw already existed; granted to ${newSigner}; 0 SQL grant(s) applied`);
    expect([...db.mappings].sort()).toEqual([`app_rw ${SIGNER_ARN}`, `app_rw ${newSigner}`].sort());
  });

  test('CREATE ROLE losing a race (42710 duplicate_object) is what was wanted: the run goes on', async () => {
    const db = new FakeDatabase();
    db.failOn = { match: /^CREATE ROLE/, error: { code: '42710', message: 'role "app_rw" already exists' } };

    const out = await run(db, event('Create'));

    expect(out.Status).toBe('SUCCESS');
    expect(out.Reason).toMatch(/^Role app_rw already existed; granted to/);
  });

  test('a failing SQL grant fails the resource, naming the statement, the database error and the fix', async () => {
    const db = new FakeDatabase();
    db.failOn = { match: /ON SCHEMA "app"/, error: { code: '3F000', message: 'schema "app" does not exist' } };

    const out = await run(db, event('Create'));

    expect(out.Status).toBe('FAILED');
    expect(out.Reason).toBe(
      'Role bootstrap: SQL grant 1 (GRANT USAGE ON SCHEMA "app" TO "app_rw") failed (3F000: schema "app" does not exist): ' +
        'the objects a grant names must exist when the stack deploys; otherwise remove the grant from DatabaseRole.custom() ' +
        'and run it as admin once they do',
    );
    expect(db.ended).toBe(true);
  });

  test('a refused AWS IAM GRANT fails the resource with the statement and the error', async () => {
    const db = new FakeDatabase();
    db.failOn = { match: /^AWS IAM GRANT/, error: { code: '42501', message: 'permission denied' } };

    const out = await run(db, event('Create'));

    expect(out).toMatchObject({
      Status: 'FAILED',
      Reason: `Role bootstrap: AWS IAM GRANT app_rw TO '${SIGNER_ARN}' failed (42501: permission denied)`,
    });
  });

  test.each([
    [{ roleName: 'admin' }, /'admin' is not a custom role/],
    [{ roleName: 'x"; DROP ROLE admin; --' }, /is not a custom role/],
    [{ signerArn: "arn:aws:iam::123456789012:role/x'; DROP ROLE admin; --" }, /is not an IAM role or user ARN/],
    [{ signerArn: 'arn:aws:sts::123456789012:assumed-role/x/session' }, /is not an IAM role or user ARN/],
    [
      { grants: ['SELECT ON app.t; DROP ROLE admin'] },
      /SQL grant 1 'SELECT ON app.t; DROP ROLE admin' is refused: it contains a semicolon/,
    ],
  ])('input that is not what the construct writes is refused before any SQL: %p', async (overrides, reason) => {
    const db = new FakeDatabase();

    const out = await run(db, event('Create'), bootstrapConfig(overrides));

    expect(out.Status).toBe('FAILED');
    expect(out.Reason).toMatch(reason);
    expect(db.statements).toEqual([]);
  });

  test('Delete revokes nothing and connects nowhere: it says what an admin would run, for the deleted properties', async () => {
    const db = new FakeDatabase();
    const old = 'arn:aws:iam::123456789012:role/old-signer';

    const out = await run(db, event('Delete', { ResourceProperties: { RoleName: 'app_old', SignerArn: old } }));

    expect(out).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: `app_rw@${HOST}` });
    expect(out.Reason).toBe(
      `Nothing revoked: role app_old and its grant to ${old} stay in place (services or other stacks may still use them). ` +
        `To remove them, as admin: AWS IAM REVOKE app_old FROM '${old}'; DROP ROLE app_old;`,
    );
    expect(db.statements).toEqual([]);
  });

  test('a missing configuration is answered FAILED, not left for CloudFormation to time out', async () => {
    const out = await runRoleBootstrap(event('Create'), { env: {}, connect: async () => new FakeDatabase(), responseRetryDelaysMs: [1] });

    expect(out.Status).toBe('FAILED');
    expect(out.Reason).toMatch(/^Role bootstrap: Environment variable DSQL_URL_SECRET_CONFIG is not set/);
    expect(received).toEqual([out]);
  });

  test('the entry answers a failed admin connection with the permission and network to check', async () => {
    // Nothing listens on port 1: the real connect path fails at once.
    const saved = process.env[FUNCTION_CONFIG_ENV];
    process.env[FUNCTION_CONFIG_ENV] = JSON.stringify(bootstrapConfig({ host: '127.0.0.1', port: 1, connectTimeoutSeconds: 2 }));
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE000000001', AWS_SECRET_ACCESS_KEY: 'example-secret' });
    try {
      const out = await roleBootstrapEntry(event('Create'));
      expect(out.Status).toBe('FAILED');
      expect(out.Reason).toMatch(/^Role bootstrap: could not connect to 127\.0\.0\.1:1 as admin \(ECONNREFUSED: .*\)\. /);
      expect(out.Reason).toMatch(/\. Check that this function's role has dsql:DbConnectAdmin on the cluster and a network path/);
    } finally {
      if (saved === undefined) delete process.env[FUNCTION_CONFIG_ENV];
      else process.env[FUNCTION_CONFIG_ENV] = saved;
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });
});

describe('readFunctionConfig: the role-bootstrap function', () => {
  const V = FUNCTION_CONFIG_ENV;
  const read = (config: object) => readFunctionConfig(FunctionBundle.ROLE_BOOTSTRAP, env(config));

  test('reads the endpoint, the role, the signer and the grants ([] for none)', () => {
    expect(read(bootstrapConfig())).toEqual(bootstrapConfig());
    expect(read(bootstrapConfig({ grants: [] })).grants).toEqual([]);
  });

  test.each(Object.keys(bootstrapConfig()))('a missing %s is an error that names it', (field) => {
    const config: Record<string, unknown> = { ...bootstrapConfig() };
    delete config[field];
    expect(() => read(config)).toThrow(`${V}.${field} is missing: the function must be deployed by the DsqlUrlSecret construct`);
  });

  test.each([
    ['grants', 'USAGE ON SCHEMA app', 'must be an array of non-empty strings, got a string'],
    ['grants', ['USAGE ON SCHEMA app', 3], 'must be an array of non-empty strings, got an array'],
    ['grants', [''], 'must be an array of non-empty strings, got an array'],
    ['roleName', '', 'must be a non-empty string, got an empty string'],
    ['signerArn', null, 'must be a non-empty string, got null'],
    ['port', 0, 'must be a positive integer, got zero'],
    ['connectTimeoutSeconds', 1.5, 'must be a positive integer, got a non-integer number'],
  ])('%s=%p is rejected', (field, value, expected) => {
    expect(() => read({ ...bootstrapConfig(), [field]: value })).toThrow(`${V}.${field} ${expected}`);
  });

  test("another function's config is refused", () => {
    expect(() => read({ ...bootstrapConfig(), secretArn: 'arn' })).toThrow(`${V}.secretArn is not a known field`);
  });
});
