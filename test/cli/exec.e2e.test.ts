/**
 * `exec` end to end: the bundled CLI (run from a copy outside the repository) against moto and the
 * local DSQL-style endpoint, which checks every token's SigV4 signature before relaying to
 * PostgreSQL. Real commands connect with the variable exec sets: psql (libpq) and node-postgres.
 * Tests run in order and share one stack; the first rotation happens after the placeholder test.
 */
import * as fs from 'fs';
import * as path from 'path';
import { TagResourceCommand } from '@aws-sdk/client-secrets-manager';
import { EndpointTag } from '../../lib/secret-tags';
import {
  bundleCli,
  CliResult,
  CliStack,
  runCli,
  RunOptions,
  startCliStack,
  TEST_ACCESS_KEY_ID,
  TEST_SECRET_ACCESS_KEY,
} from './e2e-helpers';

jest.setTimeout(120_000);

let bundle: Awaited<ReturnType<typeof bundleCli>>;
let s: CliStack;
/** Everything the CLI and its commands printed, checked for secrets at the end. */
const printed: string[] = [];
/** Every URL and token that existed: AWSCURRENT's, and what --sign handed over. */
const secrets = new Set<string>();

beforeAll(async () => {
  [bundle, s] = await Promise.all([bundleCli(), startCliStack({ services: 1 })]);
  // The tag the construct writes at synth, from the same settings the rotation function builds the URL from.
  const value = EndpointTag.encode(s.stack.rotationConfig())!;
  await s.stack.sm.send(new TagResourceCommand({ SecretId: s.stack.secretArn, Tags: [{ Key: EndpointTag.key, Value: value }] }));
  // The identity the CLI runs as may connect: the endpoint knows its key (an admin token needs no grant).
  s.stack.knownCredentials.set(TEST_ACCESS_KEY_ID, { secretAccessKey: TEST_SECRET_ACCESS_KEY });
}, 180_000);

afterAll(async () => {
  await s?.stop();
  bundle?.remove();
});

async function exec(args: string[], command: string[], opts: RunOptions = {}): Promise<CliResult> {
  const env = {
    // libpq: encrypt, verify nothing (no root certificate file); node-postgres verifies against the local CA.
    PGSSLROOTCERT: '/nonexistent/root.crt',
    NODE_EXTRA_CA_CERTS: s.stack.endpoint.caFile,
    ...opts.env,
  };
  const r = await runCli(
    bundle.cli,
    ['exec', '--secret-id', s.stack.secretArn, '--endpoint-url', s.interceptor.endpoint, ...args, '--', ...command],
    { ...opts, env },
  );
  printed.push(r.stdout, r.stderr);
  return r;
}

const sh = (script: string) => ['sh', '-c', script];

test('before the first rotation: refused, nothing run', async () => {
  const r = await exec([], sh('echo ran'));
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^error: No token yet: the first rotation has not completed/);
});

test('psql connects with $DATABASE_URL from AWSCURRENT', async () => {
  await s.stack.rotate();
  const value = await s.stack.readStage('AWSCURRENT');
  secrets.add(value.url).add(value.password);
  const accepted = s.stack.endpoint.stats.accepted;
  const r = await exec([], sh('psql "$DATABASE_URL" -X -v ON_ERROR_STOP=1 -tAc "select 1"'));
  expect(r.stderr).toBe('');
  expect(r).toMatchObject({ code: 0, stdout: '1\n' });
  expect(s.stack.endpoint.stats.accepted).toBe(accepted + 1);
});

test('a node script connects with node-postgres from process.env.DATABASE_URL', async () => {
  const script = path.join(bundle.dir, 'connect.js');
  fs.writeFileSync(
    script,
    `const { Client } = require(${JSON.stringify(require.resolve('pg'))});
const client = new Client({ connectionString: process.env.DATABASE_URL });
client.connect()
  .then(() => client.query('select 1 as one'))
  .then((res) => { console.log(res.rows[0].one); return client.end(); })
  .catch((err) => { console.error('connect failed:', err.message); process.exit(9); });
`,
  );
  const r = await exec([], ['node', script]);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe('1\n');
});

test("the command's exit code, 128 + the signal that killed it, 127 for a command not found", async () => {
  expect((await exec([], sh('exit 7'))).code).toBe(7);
  expect((await exec([], sh('kill -TERM $$'))).code).toBe(143);
  const missing = await exec([], ['no-such-command-for-exec']);
  expect(missing.code).toBe(127);
  expect(missing.stderr).toContain("error: command not found: 'no-such-command-for-exec'.");
});

test('SIGTERM to exec reaches the command, and exec exits as it did', async () => {
  let sent = false;
  const r = await exec([], sh('trap "echo got TERM; exit 42" TERM; echo started; while true; do sleep 0.1; done'), {
    onStdout: (chunk, child) => {
      if (!sent && chunk.includes('started')) {
        sent = true;
        child.kill('SIGTERM');
      }
    },
  });
  expect(r.stdout).toBe('started\ngot TERM\n');
  expect(r.code).toBe(42);
});

test('--min-validity longer than the token has left: refused, pointing at rotate --wait', async () => {
  const r = await exec(['--min-validity', '9h'], sh('echo ran'));
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(
    /has 7h 59m of validity left, less than --min-validity 9h\. Rotate first: cdk-dsql-url-secret rotate --secret-id \S+ --wait/,
  );
});

test("--sign: a fresh token signed with the caller's credentials, accepted by the endpoint, no GetSecretValue", async () => {
  const current = await s.stack.readStage('AWSCURRENT');
  const before = s.interceptor.calls.length;
  const accepted = s.stack.endpoint.stats.accepted;
  const r = await exec(['--sign', '--variable', 'PGPASSWORD', '--field', 'password'], sh('echo "$PGPASSWORD"'));
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const token = r.stdout.trim();
  secrets.add(token);
  expect(token).not.toBe(current.password);
  expect(token).toMatch(/^localhost\/\?Action=DbConnectAdmin&/);
  expect(new URL(`https://${token}`).searchParams.get('X-Amz-Credential')).toMatch(new RegExp(`^${TEST_ACCESS_KEY_ID}/`));
  expect(new URL(`https://${token}`).searchParams.get('X-Amz-Expires')).toBe('900');
  printed.splice(printed.lastIndexOf(r.stdout), 1); // the command printed the token on purpose, not the CLI

  const psql = await exec(['--sign'], sh('psql "$DATABASE_URL" -X -v ON_ERROR_STOP=1 -tAc "select current_user"'));
  expect(psql.stderr).toBe('');
  expect(psql).toMatchObject({ code: 0, stdout: 'admin\n' });
  expect(s.stack.endpoint.stats.accepted).toBe(accepted + 1);
  expect(s.interceptor.calls.slice(before)).not.toContain('GetSecretValue');
  expect(s.interceptor.calls.slice(before)).toContain('DescribeSecret');
});

test('--sign with credentials the endpoint does not know: the connection is refused', async () => {
  const r = await exec(['--sign'], sh('psql "$DATABASE_URL" -X -tAc "select 1"'), {
    env: { AWS_ACCESS_KEY_ID: 'AKIAQX4UNKNOWNKEY0000', AWS_SECRET_ACCESS_KEY: 'unknownSecretAccessKey/0123456789abcdefghij' },
  });
  expect(r.code).toBe(2); // psql: the connection failed
  expect(s.stack.endpoint.stats.rejections.at(-1)?.reason).toBe('unknown access key AKIAQX4UNKNOWNKEY0000');
});

test('nothing printed holds a token or a URL with its password', () => {
  expect(secrets.size).toBeGreaterThanOrEqual(3);
  const all = printed.join('\n');
  for (const secret of secrets) {
    expect(all.includes(secret)).toBe(false);
    expect(all.includes(encodeURIComponent(secret))).toBe(false);
  }
  expect(all).not.toContain('X-Amz-Signature');
  expect(all).not.toContain('postgres://');
  expect(all).not.toContain(TEST_SECRET_ACCESS_KEY);
});
