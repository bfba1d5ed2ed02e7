/**
 * The local DSQL front door must behave like the real one, or every test built on it proves nothing:
 * real tokens from @aws-sdk/dsql-signer, real clients (node-postgres, psql/libpq), real PostgreSQL.
 */
import { execFile } from 'child_process';
import * as net from 'net';
import { DsqlSigner } from '@aws-sdk/dsql-signer';
import { Client } from 'pg';
import { freePort } from './free-port';
import { LocalDsqlEndpoint, startLocalDsqlEndpoint } from './local-dsql-endpoint';
import { PostgresServer, startPostgres } from './postgres-server';
import { EMPTY_PAYLOAD_SHA256, SigningCredentials, verifyDsqlToken } from './sigv4-presign-verify';

const REGION = 'us-east-1';
const HOST = 'localhost';
const ADMIN_KEY = { accessKeyId: 'AKIAADMINEXAMPLE0001', secretAccessKey: 'admin-secret/EXAMPLE+key' };
const APP_KEY = { accessKeyId: 'AKIAAPPEXAMPLE000002', secretAccessKey: 'app-secret-EXAMPLE-key' };
const SESSION_KEY = {
  accessKeyId: 'ASIASESSIONEXAMPLE03',
  secretAccessKey: 'session-secret',
  sessionToken: 'FwoGZX/session+token=EXAMPLE',
};

/** The IAM identity (role or user ARN) each access key belongs to: DbConnect needs the role granted to it. */
const ARNS = new Map<string, string>([
  [ADMIN_KEY.accessKeyId, 'arn:aws:iam::123456789012:role/admin-ops'],
  [APP_KEY.accessKeyId, 'arn:aws:iam::123456789012:user/app-signer'],
  [SESSION_KEY.accessKeyId, 'arn:aws:iam::123456789012:role/app-task-role'],
]);
const identities = (akid: string) => ARNS.get(akid);

/** Credentials the "IAM" side knows; tests add short-lived ones. */
const known = new Map<string, SigningCredentials>([
  [ADMIN_KEY.accessKeyId, { secretAccessKey: ADMIN_KEY.secretAccessKey }],
  [APP_KEY.accessKeyId, { secretAccessKey: APP_KEY.secretAccessKey }],
  [
    SESSION_KEY.accessKeyId,
    { secretAccessKey: SESSION_KEY.secretAccessKey, sessionToken: SESSION_KEY.sessionToken, expiresAt: new Date(Date.now() + 3_600_000) },
  ],
]);
const lookup = (akid: string) => known.get(akid);

type Key = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
const issuedTokens: string[] = []; // to prove none of them ever reaches a log line or a reason

async function token(o: { admin: boolean; key?: Key; hostname?: string; region?: string; expiresIn?: number }): Promise<string> {
  const signer = new DsqlSigner({
    hostname: o.hostname ?? HOST,
    region: o.region ?? REGION,
    credentials: o.key ?? (o.admin ? ADMIN_KEY : APP_KEY),
    expiresIn: o.expiresIn ?? 900,
  });
  const t = o.admin ? await signer.getDbConnectAdminAuthToken() : await signer.getDbConnectAuthToken();
  issuedTokens.push(t);
  return t;
}

describe('verifyDsqlToken (pure)', () => {
  const expectFor = (user: string, extra: Partial<Parameters<typeof verifyDsqlToken>[1]> = {}) => ({
    host: HOST,
    region: REGION,
    user,
    credentials: lookup,
    ...extra,
  });
  const reasonOf = (r: ReturnType<typeof verifyDsqlToken>) => (r.ok ? 'ok' : r.reason);

  test('accepts real DsqlSigner tokens: admin, custom role, session credentials', async () => {
    expect(verifyDsqlToken(await token({ admin: true }), expectFor('admin'))).toEqual({ ok: true, accessKeyId: ADMIN_KEY.accessKeyId });
    expect(verifyDsqlToken(await token({ admin: false }), expectFor('app_rw'))).toEqual({ ok: true, accessKeyId: APP_KEY.accessKeyId });
    const session = await token({ admin: false, key: SESSION_KEY });
    expect(session).toContain('X-Amz-Security-Token=');
    expect(verifyDsqlToken(session, expectFor('app_rw'))).toEqual({ ok: true, accessKeyId: SESSION_KEY.accessKeyId });
  });

  test('signature covers the whole query (empty-body payload hash, like the SDK)', async () => {
    expect(EMPTY_PAYLOAD_SHA256).toBe(require('crypto').createHash('sha256').update('').digest('hex'));
    const t = await token({ admin: true });
    expect(reasonOf(verifyDsqlToken(t.replace('X-Amz-Expires=900', 'X-Amz-Expires=901'), expectFor('admin')))).toBe('signature mismatch');
    const wrongSecret = await token({ admin: true, key: { ...ADMIN_KEY, secretAccessKey: 'not-the-secret' } });
    expect(reasonOf(verifyDsqlToken(wrongSecret, expectFor('admin')))).toBe('signature mismatch');
    const otherSession = await token({ admin: false, key: { ...SESSION_KEY, sessionToken: 'another-session' } });
    expect(reasonOf(verifyDsqlToken(otherSession, expectFor('app_rw')))).toMatch(/security token does not match/);
  });

  test('expiry: token lifetime, clock skew, and the signing credentials', async () => {
    const t = await token({ admin: true, expiresIn: 60 });
    const later = new Date(Date.now() + 61_000);
    expect(reasonOf(verifyDsqlToken(t, expectFor('admin', { now: later })))).toMatch(/^token expired at \d{4}-.*Z$/);
    const past = new Date(Date.now() - 10 * 60_000);
    expect(reasonOf(verifyDsqlToken(t, expectFor('admin', { now: past })))).toMatch(/signed in the future/);
    const dying = (akid: string) =>
      akid === ADMIN_KEY.accessKeyId ? { secretAccessKey: ADMIN_KEY.secretAccessKey, expiresAt: new Date(Date.now() + 5_000) } : undefined;
    expect(verifyDsqlToken(t, expectFor('admin', { credentials: dying })).ok).toBe(true);
    expect(reasonOf(verifyDsqlToken(t, expectFor('admin', { credentials: dying, now: new Date(Date.now() + 10_000) })))).toMatch(
      /^signing credentials expired at /,
    );
  });

  test('binding: region, host, action per user, known key', async () => {
    expect(reasonOf(verifyDsqlToken(await token({ admin: true, region: 'us-west-2' }), expectFor('admin')))).toBe(
      'token signed for region us-west-2, endpoint is us-east-1',
    );
    expect(reasonOf(verifyDsqlToken(await token({ admin: true, hostname: 'abc.dsql.us-east-1.on.aws' }), expectFor('admin')))).toMatch(
      /^host mismatch/,
    );
    expect(reasonOf(verifyDsqlToken(await token({ admin: true }), expectFor('app_rw')))).toMatch(
      /^wrong action DbConnectAdmin for user app_rw/,
    );
    expect(reasonOf(verifyDsqlToken(await token({ admin: false }), expectFor('admin')))).toMatch(/^wrong action DbConnect for user admin/);
    const stranger = await token({ admin: true, key: { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x' } });
    expect(reasonOf(verifyDsqlToken(stranger, expectFor('admin')))).toBe('unknown access key AKIAUNKNOWN000000000');
  });

  test('malformed input gets a reason, never an exception', async () => {
    const t = await token({ admin: true });
    for (const bad of [
      '',
      'password',
      `https://${t}`,
      t.replace(/&X-Amz-Signature=[0-9a-f]+/, ''),
      `${t}&Action=DbConnect`,
      t.replace('X-Amz-Date=', 'X-Amz-Date=%E0%A4%A'),
    ]) {
      expect(reasonOf(verifyDsqlToken(bad, expectFor('admin')))).toMatch(/^malformed/);
    }
  });
});

describe('local DSQL endpoint (real PostgreSQL, real clients)', () => {
  let pg: PostgresServer;
  let ep: LocalDsqlEndpoint;
  let skewMs = 0; // moves the endpoint's clock forward for expiry tests
  const logLines: string[] = [];

  beforeAll(async () => {
    pg = await startPostgres({ log: (l) => logLines.push(l) });
    ep = await startLocalDsqlEndpoint({
      region: REGION,
      backend: pg,
      credentials: lookup,
      identities,
      now: () => new Date(Date.now() + skewMs),
      log: (l) => logLines.push(l),
    });
    // What an admin does once for the custom role the tests below use (the grants themselves are tested further down).
    const admin = await connect('admin', await token({ admin: true }));
    for (const key of [APP_KEY, SESSION_KEY]) await admin.query(`AWS IAM GRANT app_rw TO '${ARNS.get(key.accessKeyId)}'`);
    await admin.end();
  });
  afterEach(() => {
    skewMs = 0;
  });
  afterAll(async () => {
    await ep?.stop();
    await pg?.stop();
  });

  /** node-postgres with full verification (CA + host name), as against real DSQL. */
  async function connect(user: string, password: string, o: { host?: string; ssl?: boolean } = {}): Promise<Client> {
    const client = new Client({
      host: o.host ?? '127.0.0.1',
      port: ep.port,
      user,
      password,
      database: 'postgres',
      ssl: o.ssl === false ? false : { ca: ep.caPem, servername: 'localhost', rejectUnauthorized: true },
    });
    client.on('error', () => undefined); // a server-side close after a failed connect must not crash jest
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    return client;
  }

  /** psql (libpq) with the URL form apps use; the URL holds the token, so it is never printed. */
  function psql(
    user: string,
    tok: string,
    sql: string,
    query = 'sslmode=require',
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const url = `postgres://${user}:${encodeURIComponent(tok)}@localhost:${ep.port}/postgres?${query}`;
    return new Promise((resolve) => {
      execFile(
        'psql',
        ['-X', '-At', '-d', url, '-c', sql],
        { env: { ...process.env, PGCONNECT_TIMEOUT: '10' }, timeout: 30_000 },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: unknown }).code ?? -1) : 0, stdout, stderr: stderr.split(tok).join('<token>') }),
      );
    });
  }

  async function expectRejected(user: string, password: string, reason: RegExp, o: { ssl?: boolean } = {}) {
    const before = ep.stats.rejected;
    const message = o.ssl === false ? 'unable to accept connection, SSL is required' : 'unable to accept connection, access denied';
    await expect(connect(user, password, o)).rejects.toMatchObject({ code: '28000', message });
    expect(ep.stats.rejected).toBe(before + 1);
    expect(ep.stats.rejections[ep.stats.rejections.length - 1]).toEqual({ user, reason: expect.stringMatching(reason) });
  }

  test('admin token from DsqlSigner: node-postgres runs real SQL through the endpoint', async () => {
    const before = ep.stats.accepted;
    const client = await connect('admin', await token({ admin: true }));
    try {
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect((await client.query('SELECT current_user AS u, version() AS v')).rows[0]).toMatchObject({
        u: 'admin',
        v: expect.stringMatching(/^PostgreSQL 1\d/),
      });
      await client.query('CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)');
      await client.query('INSERT INTO notes (body) VALUES ($1), ($2)', ['hello', 'world']);
      expect((await client.query('SELECT body FROM notes ORDER BY id')).rows).toEqual([{ body: 'hello' }, { body: 'world' }]);
    } finally {
      await client.end();
    }
    expect(ep.stats.accepted).toBe(before + 1);
  });

  test('host name "localhost" works too (the server listens on 127.0.0.1 only)', async () => {
    const client = await connect('admin', await token({ admin: true }), { host: 'localhost' });
    expect((await client.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    await client.end();
  });

  test('psql (libpq) with the percent-encoded URL, sslmode=require and verify-full', async () => {
    const tok = await token({ admin: true });
    expect(await psql('admin', tok, 'SELECT count(*) FROM notes')).toEqual({ code: 0, stdout: '2\n', stderr: '' });
    const full = await psql('admin', tok, 'SELECT current_user', `sslmode=verify-full&sslrootcert=${encodeURIComponent(ep.caFile)}`);
    expect(full).toEqual({ code: 0, stdout: 'admin\n', stderr: '' });
  });

  test('psql sees DSQL-like errors for a bad token (exit 2, no token in output)', async () => {
    const res = await psql('admin', await token({ admin: false }), 'SELECT 1');
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/unable to accept connection, access denied/);
    expect(res.stderr).toMatch(/wrong action DbConnect for user admin/);
    expect(res.stderr).not.toContain('<token>');
  });

  test('custom role app_rw with getDbConnectAuthToken, also with session credentials', async () => {
    for (const key of [APP_KEY, SESSION_KEY]) {
      const client = await connect('app_rw', await token({ admin: false, key }));
      expect((await client.query('SELECT current_user AS u')).rows).toEqual([{ u: 'app_rw' }]);
      await client.query("INSERT INTO notes (body) VALUES ('from app')"); // default privileges from admin
      await client.end();
    }
  });

  describe('rejections (client sees 28000, stats record the reason)', () => {
    test('wrong secret key -> signature mismatch', async () => {
      await expectRejected('admin', await token({ admin: true, key: { ...ADMIN_KEY, secretAccessKey: 'wrong' } }), /^signature mismatch$/);
    });
    test('expired token (expiresIn=1, clock moved 2 s on)', async () => {
      const tok = await token({ admin: true, expiresIn: 1 });
      skewMs = 2_000;
      await expectRejected('admin', tok, /^token expired at /);
    });
    test('signing credentials expired although the token has not', async () => {
      const shortLived = { accessKeyId: 'ASIASHORTLIVED000004', secretAccessKey: 'short', sessionToken: 'short-session' };
      known.set(shortLived.accessKeyId, { ...shortLived, expiresAt: new Date(Date.now() + 60_000) });
      const tok = await token({ admin: true, key: shortLived, expiresIn: 3600 });
      await (await connect('admin', tok)).end(); // fine while the session lives
      skewMs = 120_000;
      await expectRejected('admin', tok, /^signing credentials expired at /);
    });
    test('wrong region', async () => {
      await expectRejected(
        'admin',
        await token({ admin: true, region: 'us-west-2' }),
        /^token signed for region us-west-2, endpoint is us-east-1$/,
      );
    });
    test('wrong action both ways', async () => {
      await expectRejected('app_rw', await token({ admin: true }), /^wrong action DbConnectAdmin for user app_rw/);
      await expectRejected('admin', await token({ admin: false }), /^wrong action DbConnect for user admin/);
    });
    test('wrong host', async () => {
      await expectRejected('admin', await token({ admin: true, hostname: 'other.dsql.us-east-1.on.aws' }), /^host mismatch/);
    });
    test('unknown access key', async () => {
      await expectRejected(
        'admin',
        await token({ admin: true, key: { accessKeyId: 'AKIANOBODY0000000000', secretAccessKey: 'x' } }),
        /^unknown access key/,
      );
    });
    test('plain password and non-SSL connection', async () => {
      await expectRejected('admin', 'hunter2', /^malformed token/);
      await expectRejected('admin', await token({ admin: true }), /^SSL is required$/, { ssl: false });
    });
  });

  describe('IAM role grants: a DbConnect token is accepted only for a role granted to its signer', () => {
    const ROLE_KEY = { accessKeyId: 'AKIAROLEKEYEXAMPLE05', secretAccessKey: 'role-key-secret' };
    const ROLE_ARN = 'arn:aws:iam::123456789012:role/reporting-signer';
    let admin: Client;
    beforeAll(async () => {
      known.set(ROLE_KEY.accessKeyId, { secretAccessKey: ROLE_KEY.secretAccessKey });
      ARNS.set(ROLE_KEY.accessKeyId, ROLE_ARN);
      admin = await connect('admin', await token({ admin: true }));
      await admin.query('CREATE ROLE reporting WITH LOGIN');
    });
    afterAll(async () => {
      await admin?.end();
    });
    const reportingToken = (key: Key = ROLE_KEY) => token({ admin: false, key });
    const sqlError = (code: string, message: string | RegExp) => expect.objectContaining({ code, message: expect.stringMatching(message) });

    test('no grant: refused, and the reason names the role, the identity and the grant to run', async () => {
      await expectRejected(
        'reporting',
        await reportingToken(),
        new RegExp(`^role reporting is not granted to ${ROLE_ARN} \\(as admin: AWS IAM GRANT reporting TO '${ROLE_ARN}'\\)$`),
      );
    });

    test('admin grants it (AWS IAM GRANT, answered by the endpoint): that identity logs in, another still does not', async () => {
      const out = await admin.query(`AWS IAM GRANT reporting TO '${ROLE_ARN}'`);
      expect(out.command).toBe('AWS');
      const client = await connect('reporting', await reportingToken());
      expect((await client.query('SELECT current_user AS u')).rows).toEqual([{ u: 'reporting' }]);
      await client.end();
      // app_rw's identity signed a valid DbConnect token for reporting: not granted to it.
      await expectRejected(
        'reporting',
        await reportingToken(APP_KEY),
        /^role reporting is not granted to arn:aws:iam::123456789012:user\/app-signer/,
      );
      // The session goes on after an intercepted statement: the backend's and the endpoint's replies stay in order.
      expect((await admin.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    });

    test('sys.iam_pg_role_mappings shows the pairs with DSQL columns, to admin and to the role', async () => {
      const sql = "SELECT arn, pg_role_name, grantor_pg_role_name FROM sys.iam_pg_role_mappings WHERE pg_role_name = 'reporting'";
      const expected = [{ arn: ROLE_ARN, pg_role_name: 'reporting', grantor_pg_role_name: 'admin' }];
      expect((await admin.query(sql)).rows).toEqual(expected);
      const client = await connect('reporting', await reportingToken());
      expect((await client.query(sql)).rows).toEqual(expected);
      await client.end();
      expect(await ep.iamMappings()).toEqual(expect.arrayContaining([{ role: 'reporting', arn: ROLE_ARN }]));
    });

    test('only admin can grant or revoke; the refused session goes on', async () => {
      const client = await connect('reporting', await reportingToken());
      await expect(client.query(`AWS IAM GRANT app_rw TO '${ROLE_ARN}'`)).rejects.toEqual(
        sqlError('42501', /^permission denied: only admin can run AWS IAM GRANT$/),
      );
      await expect(client.query(`AWS IAM REVOKE reporting FROM '${ROLE_ARN}'`)).rejects.toEqual(sqlError('42501', /only admin/));
      expect((await client.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
      await client.end();
      expect(await ep.iamMappings()).not.toContainEqual({ role: 'app_rw', arn: ROLE_ARN });
    });

    test('errors DSQL-like code must handle: a grant that exists, an unknown role, bad syntax, inside a transaction', async () => {
      await expect(admin.query(`AWS IAM GRANT reporting TO '${ROLE_ARN}'`)).rejects.toEqual(sqlError('42710', /already granted/));
      await expect(admin.query(`AWS IAM GRANT nobody TO '${ROLE_ARN}'`)).rejects.toEqual(sqlError('42704', /role "nobody" does not exist/));
      await expect(admin.query(`AWS IAM GRANT reporting '${ROLE_ARN}'`)).rejects.toEqual(sqlError('42601', /syntax error/));
      await expect(admin.query("AWS IAM GRANT reporting TO 'arn:aws:sts::123456789012:assumed-role/x/y'")).rejects.toEqual(
        sqlError('22023', /invalid IAM ARN/),
      );
      await admin.query('BEGIN');
      await expect(admin.query(`AWS IAM REVOKE reporting FROM '${ROLE_ARN}'`)).rejects.toEqual(sqlError('25001', /transaction block/));
      await admin.query('ROLLBACK');
      expect(await ep.iamMappings()).toContainEqual({ role: 'reporting', arn: ROLE_ARN });
    });

    test('psql (libpq) runs AWS IAM REVOKE too; the identity is refused again, and a second REVOKE fails', async () => {
      const revoke = await psql('admin', await token({ admin: true }), `AWS IAM REVOKE reporting FROM '${ROLE_ARN}'`);
      expect(revoke).toEqual({ code: 0, stdout: 'AWS IAM REVOKE\n', stderr: '' });
      await expectRejected('reporting', await reportingToken(), /^role reporting is not granted to/);
      await expect(admin.query(`AWS IAM REVOKE reporting FROM '${ROLE_ARN}'`)).rejects.toEqual(sqlError('42704', /is not granted/));
    });

    test('a key with no known IAM identity is refused for a custom role', async () => {
      const orphan = { accessKeyId: 'AKIAORPHANEXAMPLE006', secretAccessKey: 'orphan-secret' };
      known.set(orphan.accessKeyId, { secretAccessKey: orphan.secretAccessKey });
      await expectRejected('reporting', await reportingToken(orphan), /^no IAM identity is known for access key AKIAORPHANEXAMPLE006$/);
    });
  });

  test('50 concurrent clients all authenticate and get their own backend session', async () => {
    const before = ep.stats.accepted;
    const pids = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const client = await connect(i % 2 ? 'app_rw' : 'admin', await token({ admin: i % 2 === 0 }));
        try {
          return (await client.query('SELECT pg_backend_pid() AS pid, pg_sleep(0.05)')).rows[0].pid as number;
        } finally {
          await client.end();
        }
      }),
    );
    expect(new Set(pids).size).toBe(50);
    expect(ep.stats.accepted).toBe(before + 50);
  });

  test('wire protocol edges: split SSLRequest, GSSENCRequest -> N, CancelRequest -> close', async () => {
    const socket = net.connect(ep.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const replies: Buffer[] = [];
    socket.on('data', (d) => replies.push(d));
    const gss = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]); // 80877104
    const ssl = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]); // 80877103
    socket.write(gss);
    for (const byte of ssl) {
      socket.write(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(Buffer.concat(replies).toString()).toBe('NS');
    socket.destroy();

    const cancel = net.connect(ep.port, '127.0.0.1');
    cancel.write(Buffer.from([0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 0, 0, 0, 2])); // 80877102
    await new Promise((r) => cancel.once('close', r));
  });

  test('never logs tokens; rejection reasons hold no token, signature or secret', () => {
    const text = [...logLines, ...ep.stats.rejections.map((r) => r.reason)].join('\n');
    expect(text).not.toContain('hunter2');
    expect(logLines.some((l) => l.startsWith('accepted user'))).toBe(true);
    for (const t of issuedTokens) {
      expect(text).not.toContain(t);
      expect(text).not.toContain(t.match(/X-Amz-Signature=([0-9a-f]+)/)![1]);
    }
    for (const secret of [ADMIN_KEY.secretAccessKey, APP_KEY.secretAccessKey, SESSION_KEY.secretAccessKey])
      expect(text).not.toContain(secret);
  });

  test('stop() drops open sessions and frees the port', async () => {
    const second = await startLocalDsqlEndpoint({ region: REGION, backend: pg, credentials: lookup, identities });
    const client = new Client({
      host: '127.0.0.1',
      port: second.port,
      user: 'admin',
      password: await token({ admin: true }),
      database: 'postgres',
      ssl: { ca: second.caPem, servername: 'localhost', rejectUnauthorized: true },
    });
    await client.connect();
    const ended = new Promise((r) => {
      client.on('error', r);
      client.on('end', () => r(undefined));
    });
    await second.stop();
    await ended;
    await expect(
      new Promise((resolve, reject) => net.connect(second.port, '127.0.0.1').on('connect', resolve).on('error', reject)),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

test('freePort gives distinct bindable ports', async () => {
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  for (const p of ports) expect(p).toBeGreaterThan(1023);
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(ports[0], '127.0.0.1', () => r()));
  await new Promise((r) => server.close(r));
});
