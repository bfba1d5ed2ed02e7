/**
 * End to end, no mocks: the shipped handler bundle rotates a secret in moto, the token it mints
 * authenticates at a DSQL-style endpoint (SigV4 presigned-token check, TLS) in front of a real
 * PostgreSQL, with the real clients an application uses (node-postgres, psql/libpq), and every bound
 * ECS service gets exactly one new deployment per rotation.
 */
import { DsqlUrlSecretValue } from '../../lib/contract';
import { LocalStack } from '../support/local-stack';
import { generateTlsCert } from '../support/tls-cert';
import { pgSelectOne, psql, tokenParams, withPg } from './clients';
import {
  blockingPending,
  captureOutput,
  changed,
  deploymentIds,
  findLeaks,
  fingerprint,
  oncePerService,
  stagesOf,
  sleep,
  startStack,
  UpdateServiceRecorder,
} from './harness';

const LIFETIME_SECONDS = 6 * 3600;

describe('rotation with the admin role (2 clusters x 2 services)', () => {
  let stack: LocalStack;
  let output: ReturnType<typeof captureOutput>;
  const rotations: Array<{
    versionId: string;
    attempts: number;
    startedAt: number;
    endedAt: number;
    before: Map<string, string>;
    after: Map<string, string>;
    updates: Record<string, number>;
    stages: Record<string, string[]>;
    current: DsqlUrlSecretValue;
    previous: DsqlUrlSecretValue;
  }> = [];

  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({ clusters: 2, services: 2, tokenLifetimeSeconds: LIFETIME_SECONDS });
    const recorder = new UpdateServiceRecorder(stack);
    for (let i = 0; i < 2; i++) {
      if (i > 0) {
        // SigV4's X-Amz-Date has one-second resolution: two tokens signed in the same second with the same
        // key and lifetime are byte-identical. Start the second rotation in a later second.
        const nextSecond = (Math.floor(Date.parse(rotations[0].current.issuedAt) / 1000) + 2) * 1000;
        await sleep(Math.max(0, nextSecond - Date.now()));
      }
      const before = await deploymentIds(stack, stack.serviceArns);
      recorder.reset();
      const startedAt = Date.now();
      const result = await stack.rotate();
      const endedAt = Date.now();
      rotations.push({
        versionId: result.versionId,
        attempts: result.attempts,
        startedAt,
        endedAt,
        before,
        after: await deploymentIds(stack, stack.serviceArns),
        updates: recorder.snapshot(),
        stages: await stagesOf(stack),
        current: await stack.readStage('AWSCURRENT'),
        previous: await stack.readStage('AWSPREVIOUS'),
      });
    }
  }, 60_000);

  afterAll(async () => {
    output?.restore();
    await stack?.stop();
  });

  test('two rotations in a row: new AWSCURRENT, old AWSPREVIOUS, no AWSPENDING left', () => {
    const [first, second] = rotations;
    expect(first.attempts).toBe(1);
    expect(second.attempts).toBe(1);
    expect(second.versionId).not.toBe(first.versionId);
    expect(second.stages[second.versionId]).toEqual(['AWSCURRENT']);
    expect(second.stages[first.versionId]).toEqual(['AWSPREVIOUS']);
    // The placeholder the secret was created with has no label left.
    expect(Object.keys(second.stages).sort()).toEqual([first.versionId, second.versionId].sort());
    for (const r of rotations) {
      expect(blockingPending(r.stages)).toEqual([]);
      expect(Object.values(r.stages).flat()).not.toContain('AWSPENDING');
    }
    // AWSPREVIOUS after the second rotation is what AWSCURRENT was after the first.
    expect(fingerprint(second.previous.password)).toBe(fingerprint(first.current.password));
    expect(fingerprint(second.current.password)).not.toBe(fingerprint(first.current.password));
  });

  test('the secret JSON: url with the percent-encoded token, fields, expiresAt = issuedAt + lifetime', () => {
    for (const { current: v, startedAt, endedAt } of rotations) {
      expect(Object.keys(v).sort()).toEqual(['dbname', 'expiresAt', 'host', 'issuedAt', 'password', 'port', 'sslmode', 'url', 'username']);
      expect(v.host).toBe(stack.endpoint.host);
      expect(v.port).toBe(stack.endpoint.port);
      expect(v.username).toBe('admin');
      expect(v.dbname).toBe('postgres');
      expect(v.sslmode).toBe('require');
      // Compared as a boolean so a failure never prints the token.
      expect(
        v.url ===
          `postgres://admin:${encodeURIComponent(v.password)}@${stack.endpoint.host}:${stack.endpoint.port}/postgres?sslmode=require`,
      ).toBe(true);
      const issued = Date.parse(v.issuedAt);
      expect(issued).toBeGreaterThanOrEqual(startedAt - 1000);
      expect(issued).toBeLessThanOrEqual(endedAt);
      expect(Date.parse(v.expiresAt) - issued).toBe(LIFETIME_SECONDS * 1000);

      const { host, params } = tokenParams(v.password);
      expect(host).toBe(stack.endpoint.host);
      expect(params.get('Action')).toBe('DbConnectAdmin');
      expect(params.get('X-Amz-Expires')).toBe(String(LIFETIME_SECONDS));
      expect(params.get('X-Amz-Credential')).toMatch(new RegExp(`^${stack.signer.accessKeyId}/\\d{8}/us-east-1/dsql/aws4_request$`));
    }
  });

  test('node-postgres connects with the AWSCURRENT url and runs real SQL', async () => {
    const { url } = rotations[1].current;
    const rows = await withPg(url, stack.endpoint.caFile, async (c) => {
      await c.query('CREATE TABLE IF NOT EXISTS rotation_probe (id serial PRIMARY KEY, note text NOT NULL)');
      await c.query('INSERT INTO rotation_probe (note) VALUES ($1), ($2)', ['first', 'second']);
      const who = await c.query<{ user: string; ssl: boolean }>(
        'SELECT current_user AS user, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl',
      );
      const notes = await c.query<{ note: string }>('SELECT note FROM rotation_probe ORDER BY id');
      return { who: who.rows[0], notes: notes.rows.map((r) => r.note) };
    });
    expect(rows.who.user).toBe('admin');
    expect(rows.notes).toEqual(['first', 'second']);
  });

  test('node-postgres reads sslmode=require as verify-full: the certificate is checked', async () => {
    const { url } = rotations[1].current;
    // The URL alone: verified against Node's public roots, which do not include the local test CA.
    const { Client } = await import('pg');
    const bare = new Client({ connectionString: url, connectionTimeoutMillis: 15_000 });
    bare.on('error', () => undefined);
    await expect(bare.connect()).rejects.toThrow(/self[- ]signed|certificate/i);
    await bare.end().catch(() => undefined);
    // Nor does an `ssl` option next to the URL: pg replaces it with the `ssl` object parsed from the URL.
    const withOption = new Client({ connectionString: url, ssl: { ca: stack.endpoint.caPem }, connectionTimeoutMillis: 15_000 });
    withOption.on('error', () => undefined);
    await expect(withOption.connect()).rejects.toThrow(/self[- ]signed|certificate/i);
    await withOption.end().catch(() => undefined);
    // The same URL plus the CA that signed the endpoint's certificate (what DSQL's public chain gives for free).
    await expect(pgSelectOne(url, stack.endpoint.caFile)).resolves.toBe(1);
  });

  test('psql (libpq) connects with the AWSCURRENT url: encrypt-only, and chain-verified with PGSSLROOTCERT', async () => {
    const { url } = rotations[1].current;
    await expect(psql(url, 'select 1')).resolves.toBe('1');
    // libpq: with a root certificate file, sslmode=require verifies the chain (like verify-ca).
    await expect(psql(url, 'select current_user', { rootCertFile: stack.endpoint.caFile })).resolves.toBe('admin');
    const otherCa = await generateTlsCert();
    try {
      await expect(psql(url, 'select 1', { rootCertFile: otherCa.caFile })).rejects.toThrow(/certificate verify failed/);
    } finally {
      otherCa.remove();
    }
  });

  test('AWSPREVIOUS still authenticates: tasks that have not been replaced yet keep working', async () => {
    await expect(pgSelectOne(rotations[1].previous.url, stack.endpoint.caFile)).resolves.toBe(1);
    await expect(psql(rotations[1].previous.url, 'select 1')).resolves.toBe('1');
  });

  test('every bound service got exactly one new deployment per rotation', () => {
    for (const r of rotations) {
      expect(changed(r.before, r.after)).toEqual([...stack.serviceArns].sort());
      expect(r.updates).toEqual(oncePerService(stack.serviceArns));
    }
    expect(new Set(stack.serviceArns.map((arn) => arn.split('/')[1]))).toEqual(new Set(['app-cluster-1', 'app-cluster-2']));
  });

  test('the endpoint refused nothing', () => {
    expect(stack.endpoint.stats.rejections).toEqual([]);
    expect(stack.endpoint.stats.accepted).toBeGreaterThanOrEqual(2 + 5); // one testSecret per rotation + the clients above
  });

  test("no token, encoded token, signature or secret key in the handler logs or this process's output", async () => {
    const { leaks, secretsChecked } = await findLeaks({
      stack,
      texts: { 'test process output': output.text() },
      secretAccessKeys: [stack.signer.secretAccessKey],
    });
    expect(secretsChecked).toBeGreaterThanOrEqual(2 * 3 + 1 + 2);
    expect(stack.handlerLogs.length).toBe(8);
    expect(leaks).toEqual([]);
  });
});

describe('rotation with a custom database role (app_rw, DbConnect)', () => {
  let stack: LocalStack;
  let output: ReturnType<typeof captureOutput>;

  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({ username: 'app_rw', services: 1 });
  }, 60_000);

  afterAll(async () => {
    output?.restore();
    await stack?.stop();
  });

  test('the token says DbConnect and connects as app_rw, which is not a superuser', async () => {
    const before = await deploymentIds(stack, stack.serviceArns);
    const result = await stack.rotate();
    expect(result.attempts).toBe(1);
    expect(changed(before, await deploymentIds(stack, stack.serviceArns))).toEqual(stack.serviceArns);

    const v = await stack.readStage('AWSCURRENT');
    expect(v.username).toBe('app_rw');
    expect(tokenParams(v.password).params.get('Action')).toBe('DbConnect');
    expect(v.url.startsWith('postgres://app_rw:')).toBe(true);

    const seen = await withPg(v.url, stack.endpoint.caFile, async (c) => {
      const who = (await c.query<{ u: string }>('SELECT current_user AS u')).rows[0].u;
      await c.query('CREATE TABLE app_owned (n int)');
      await c.query('INSERT INTO app_owned VALUES (1), (2)');
      const sum = (await c.query<{ s: string }>('SELECT sum(n) AS s FROM app_owned')).rows[0].s;
      const denied = await c.query('CREATE ROLE should_fail').then(
        () => 'allowed',
        (e: { code?: string }) => e.code,
      );
      return { who, sum, denied };
    });
    expect(seen).toEqual({ who: 'app_rw', sum: '3', denied: '42501' }); // 42501 = insufficient_privilege
    await expect(psql(v.url, 'select current_user')).resolves.toBe('app_rw');
    expect(stack.endpoint.stats.rejections).toEqual([]);
  });

  test("no secret in the handler logs or this process's output", async () => {
    const { leaks } = await findLeaks({
      stack,
      texts: { 'test process output': output.text() },
      secretAccessKeys: [stack.signer.secretAccessKey],
    });
    expect(stack.handlerLogs.length).toBe(4);
    expect(leaks).toEqual([]);
  });
});
