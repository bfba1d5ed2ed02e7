/**
 * `exec`: the command line, AWSCURRENT or a signed token into the command's environment, exit codes,
 * signals, refusals, and the endpoint tag --sign reads. AWS is mocked; the command is a fake spawn,
 * except where real processes show the exit codes a shell would give.
 */
import { EventEmitter } from 'events';
import * as os from 'os';
import { parseCommandLine } from '../../cli/args';
import { SpawnFn } from '../../cli/child-process';
import { main } from '../../cli/main';
import { UsageError } from '../../cli/errors';
import { EndpointTag } from '../../lib/secret-tags';
import { verifyDsqlToken } from '../support/sigv4-presign-verify';
import { awsError, Capture, FakeAws, OLD_VERSION, SECRET_ARN, secretValue, T0, TOKEN } from './fixtures';

const aws = new FakeAws();
afterAll(() => aws.restore());
beforeEach(() => aws.reset());

const HOST = 'abc.dsql.eu-west-1.on.aws';
const URL_OF_TOKEN = `postgres://admin:${encodeURIComponent(TOKEN)}@${HOST}:5432/postgres?sslmode=require`;
const KEY = { accessKeyId: 'AKIAQX4EXECTESTKEY7Z2P', secretAccessKey: 'execTestSecretAccessKey/0123456789abcdefghij' };

/** A child process that does nothing until the test ends it. */
class FakeChild extends EventEmitter {
  pid: number | undefined = 4242;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly kills: string[] = [];
  kill(signal: NodeJS.Signals) {
    this.kills.push(signal);
    return true;
  }
  exit(code: number | null, signal: NodeJS.Signals | null = null) {
    this.exitCode = code;
    this.signalCode = signal;
    this.emit('exit', code, signal);
  }
}

interface Spawned {
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  stdio: unknown;
  child: FakeChild;
}

/** A spawn that records its call; `start` decides what the child does once listeners are attached. */
function fakeSpawn(start: (child: FakeChild) => void = (c) => c.exit(0)) {
  const calls: Spawned[] = [];
  const spawn: SpawnFn = (command, args, options) => {
    const child = new FakeChild();
    calls.push({ command, args, env: options.env!, stdio: options.stdio, child });
    setImmediate(() => start(child));
    return child as never;
  };
  return { spawn, calls };
}

const signals = () => new EventEmitter() as EventEmitter & { on: never; off: never };

async function exec(
  argv: string[],
  o: { start?: (c: FakeChild) => void; signals?: EventEmitter; credentials?: () => Promise<never>; now?: () => number } = {},
) {
  const stdout = new Capture();
  const stderr = new Capture();
  const { spawn, calls } = fakeSpawn(o.start);
  const code = await main({
    argv: ['exec', '--secret-id', SECRET_ARN, ...argv],
    env: { PATH: '/usr/bin:/bin', HOME: '/home/ci', KEEP: 'me' },
    stdout,
    stderr,
    now: o.now ?? (() => T0),
    exec: { spawn, signals: (o.signals ?? signals()) as never, credentials: o.credentials },
  });
  const printed = stdout.text + stderr.text;
  // Whatever happened: no token, no URL, no key on stdout or stderr.
  for (const secret of [TOKEN, encodeURIComponent(TOKEN), 'X-Amz-Signature', 'postgres://', KEY.accessKeyId, KEY.secretAccessKey]) {
    expect(printed).not.toContain(secret);
  }
  return { code, stdout: stdout.text, stderr: stderr.text, calls };
}

describe('the command line', () => {
  test('defaults, and nothing after -- is read as an option', () => {
    expect(parseCommandLine(['exec', '--secret-id', 'app/db', '--', 'psql', '--help', '-c', 'select 1', '--'])).toEqual({
      command: 'exec',
      secretId: 'app/db',
      variable: 'DATABASE_URL',
      field: 'url',
      minValidityMs: 15 * 60_000,
      sign: false,
      tokenLifetimeMs: 15 * 60_000,
      argv: ['psql', '--help', '-c', 'select 1', '--'],
      aws: { region: undefined, endpointUrl: undefined, profile: undefined },
    });
    expect(
      parseCommandLine(['exec', '--secret-id=x', '--sign', '--token-lifetime', '1h', '--min-validity', '0', '--', 'sh']),
    ).toMatchObject({
      sign: true,
      tokenLifetimeMs: 3_600_000,
      minValidityMs: 0,
    });
  });

  test.each([
    [['exec', '--secret-id', 'x'], 'exec needs the command to run after --'],
    [['exec', '--secret-id', 'x', 'psql'], 'put the command after --'],
    [['exec', '--', 'psql'], 'exec needs --secret-id'],
    [['exec', '--secret-id', 'x', '--variable', '1BAD', '--', 'sh'], "bad --variable '1BAD'"],
    [['exec', '--secret-id', 'x', '--field', 'expiresAt', '--', 'sh'], "bad --field 'expiresAt': use one of url, password"],
    [['exec', '--secret-id', 'x', '--min-validity', 'soon', '--', 'sh'], "bad --min-validity value 'soon'"],
    [['exec', '--secret-id', 'x', '--token-lifetime', '1h', '--', 'sh'], '--token-lifetime only applies with --sign'],
    [['exec', '--secret-id', 'x', '--sign', '--token-lifetime', '8d', '--', 'sh'], 'DSQL allows at most 7d'],
    [['exec', '--secret-id', 'x', '--sign', '--token-lifetime', '5m', '--', 'sh'], 'shorter than --min-validity 15m'],
    [['exec', '--secret-id', 'x', '--wait', '--', 'sh'], '--wait does not apply to exec'],
    [['status', '--secret-id', 'x', '--sign'], '--sign only applies to exec'],
    [['status', '--secret-id', 'x', '--', 'sh'], "unexpected argument '--'"],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(UsageError);
    expect(() => parseCommandLine(argv)).toThrow(message);
  });
});

describe('exec with AWSCURRENT', () => {
  test("the command gets the caller's environment plus DATABASE_URL, stdio inherited; AWSCURRENT read by stage", async () => {
    const r = await exec(['--', 'npx', 'prisma', 'migrate', 'deploy']);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(r.calls).toHaveLength(1);
    const [call] = r.calls;
    expect([call.command, ...call.args]).toEqual(['npx', 'prisma', 'migrate', 'deploy']);
    expect(call.env).toEqual({ PATH: '/usr/bin:/bin', HOME: '/home/ci', KEEP: 'me', DATABASE_URL: URL_OF_TOKEN });
    expect(call.stdio).toBe('inherit');
    expect(aws.state.calls).toEqual(['DescribeSecret', 'GetSecretValue']); // the fake refuses a read without VersionStage
  });

  test('--variable and --field choose what is set', async () => {
    const r = await exec(['--variable', 'PGPASSWORD', '--field', 'password', '--', 'psql']);
    expect(r.code).toBe(0);
    expect(r.calls[0].env.PGPASSWORD).toBe(TOKEN);
    expect(r.calls[0].env.DATABASE_URL).toBeUndefined();
    expect((await exec(['--variable', 'PGPORT', '--field', 'port', '--', 'psql'])).calls[0].env.PGPORT).toBe('5432');
  });

  test.each([0, 3, 7, 255])("exit code %i is the command's", async (code) => {
    expect((await exec(['--', 'sh'], { start: (c) => c.exit(code) })).code).toBe(code);
  });

  test('INT, TERM and HUP go to the command; killed by one, exec exits 128 + its number', async () => {
    const source = signals();
    let child: FakeChild | undefined;
    const r = exec(['--', 'sleep', '100'], {
      signals: source,
      start: (c) => {
        child = c;
        source.emit('SIGINT');
        source.emit('SIGHUP');
        source.emit('SIGTERM');
        c.exit(null, 'SIGTERM');
      },
    });
    const { code } = await r;
    expect(child!.kills).toEqual(['SIGINT', 'SIGHUP', 'SIGTERM']);
    expect(code).toBe(128 + os.constants.signals.SIGTERM);
    // Once the command ended, a signal is this process's own business again.
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) expect(source.listenerCount(s)).toBe(0);
  });

  test.each([
    ['ENOENT', 127, "error: command not found: 'no-such-tool'. Check the name and PATH"],
    ['EACCES', 126, "error: cannot run 'no-such-tool': it is not executable (EACCES)"],
  ])('a command that cannot start (%s): exit %i and a clear message', async (errno, code, message) => {
    const r = await exec(['--', 'no-such-tool'], {
      start: (c) => {
        c.pid = undefined;
        c.emit('error', Object.assign(new Error(`spawn no-such-tool ${errno}`), { code: errno }));
      },
    });
    expect(r.code).toBe(code);
    expect(r.stderr).toContain(message);
  });

  test('less validity left than --min-validity: refused, naming both, suggesting rotate --wait', async () => {
    aws.state.values[OLD_VERSION] = secretValue(new Date(T0 + 10 * 60_000).toISOString());
    const r = await exec(['--', 'sh']);
    expect(r.code).toBe(1);
    expect(r.calls).toHaveLength(0);
    expect(r.stderr).toBe(
      `error: The token (AWSCURRENT version ${OLD_VERSION.slice(0, 8)}) has 10m of validity left, less than --min-validity 15m. ` +
        `Rotate first: cdk-dsql-url-secret rotate --secret-id ${SECRET_ARN} --wait (or pass --sign, or lower --min-validity).\n`,
    );
    expect((await exec(['--min-validity', '5m', '--', 'sh'])).code).toBe(0);
    aws.state.values[OLD_VERSION] = secretValue(new Date(T0 - 60_000).toISOString());
    expect((await exec(['--min-validity', '0', '--', 'sh'])).stderr).toContain('expired 1m ago');
  });

  test('the placeholder: refused, no token yet', async () => {
    aws.state.values[OLD_VERSION] = JSON.stringify({ url: '', password: '', expiresAt: '' });
    const r = await exec(['--', 'sh']);
    expect(r.code).toBe(1);
    expect(r.calls).toHaveLength(0);
    expect(r.stderr).toMatch(/^error: No token yet: the first rotation has not completed/);
  });

  test('a secret the construct does not manage, not found, or access denied: refused, naming the action and the secret', async () => {
    aws.state.tags = {};
    expect((await exec(['--', 'sh'])).stderr).toContain(
      "is not managed by cdk-dsql-url-secret: it has no tag 'cdk-dsql-url-secret:managed-by'",
    );
    aws.reset();
    aws.state.errors.DescribeSecret = awsError('ResourceNotFoundException');
    expect((await exec(['--', 'sh'])).stderr).toMatch(/^error: Secret '.*' not found in eu-west-1\./);
    aws.state.errors.DescribeSecret = awsError('AccessDeniedException', 'not authorized', 403);
    expect((await exec(['--', 'sh'])).stderr).toContain(`Allow secretsmanager:DescribeSecret on the secret ${SECRET_ARN}`);
    aws.reset();
    aws.state.errors.GetSecretValue = awsError('AccessDeniedException', 'not authorized', 403);
    const denied = await exec(['--', 'sh']);
    expect(denied.code).toBe(1);
    expect(denied.calls).toHaveLength(0);
    expect(denied.stderr).toContain(`Permission denied: GetSecretValue was refused`);
    expect(denied.stderr).toContain(`Allow secretsmanager:GetSecretValue on the secret ${SECRET_ARN}`);
  });

  test('no credentials: how to provide them', async () => {
    aws.state.errors.DescribeSecret = awsError('CredentialsProviderError', 'Could not load credentials from any providers');
    const r = await exec(['--', 'sh']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /No AWS credentials found for DescribeSecret\. .*aws sso login, AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID/,
    );
  });
});

describe('exec --sign', () => {
  const credentials = (expiration?: Date) => async () => ({ ...KEY, expiration }) as never;
  const tag = (username: string, urlQuery = 'sslmode=require') =>
    EndpointTag.encode({ host: HOST, port: 5432, database: 'postgres', username, urlQuery })!;

  test.each([
    ['admin', 'DbConnectAdmin'],
    ['app_rw', 'DbConnect'],
  ])('role %s: a presigned %s token for the host, percent-encoded in the URL; no GetSecretValue', async (role, action) => {
    aws.state.tags[EndpointTag.key] = tag(role, 'sslmode=verify-full&uselibpqcompat=true');
    const r = await exec(['--sign', '--token-lifetime', '20m', '--', 'sh'], { credentials: credentials() });
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(aws.state.calls).toEqual(['DescribeSecret']);
    const url = new URL(r.calls[0].env.DATABASE_URL!);
    expect([url.protocol, url.username, url.hostname, url.port, url.pathname]).toEqual(['postgres:', role, HOST, '5432', '/postgres']);
    expect(url.search).toBe('?sslmode=verify-full&uselibpqcompat=true');
    const token = decodeURIComponent(url.password);
    expect(token).toMatch(new RegExp(`^${HOST.replace(/\./g, '\\.')}/\\?Action=${action}&`));
    expect(new URL(`https://${token}`).searchParams.get('X-Amz-Expires')).toBe('1200');
    const check = (accessKeyId: string) => (accessKeyId === KEY.accessKeyId ? { secretAccessKey: KEY.secretAccessKey } : undefined);
    expect(verifyDsqlToken(token, { host: HOST, region: 'eu-west-1', user: role, credentials: check })).toEqual({
      ok: true,
      accessKeyId: KEY.accessKeyId,
    });
    // Signed for another role, it would not pass.
    expect(verifyDsqlToken(token, { host: HOST, region: 'eu-west-1', user: role === 'admin' ? 'x' : 'admin', credentials: check }).ok).toBe(
      false,
    );
  });

  test('a token signed for exactly --min-validity passes, however long signing took', async () => {
    aws.state.tags[EndpointTag.key] = tag('admin');
    let now = T0;
    const r = await exec(['--sign', '--', 'sh'], { credentials: credentials(), now: () => (now += 1_000) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  test('credentials that expire before --min-validity: refused', async () => {
    aws.state.tags[EndpointTag.key] = tag('admin');
    const r = await exec(['--sign', '--', 'sh'], { credentials: credentials(new Date(T0 + 5 * 60_000)) });
    expect(r.code).toBe(1);
    expect(r.calls).toHaveLength(0);
    expect(r.stderr).toContain('has 5m of validity left, less than --min-validity 15m. Your credentials expire before then');
  });

  test('no credentials, or no endpoint tag: clear errors', async () => {
    aws.state.tags[EndpointTag.key] = tag('admin');
    const noCreds = async () => {
      throw awsError('CredentialsProviderError', 'Could not load credentials from any providers');
    };
    const r = await exec(['--sign', '--', 'sh'], { credentials: noCreds as never });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: No AWS credentials found for signing a DSQL token \(--sign\)\. Configure them .*AWS_PROFILE/);
    delete aws.state.tags[EndpointTag.key];
    const untagged = await exec(['--sign', '--', 'sh'], { credentials: credentials() });
    expect(untagged.stderr).toContain("has no valid tag 'cdk-dsql-url-secret:endpoint', which --sign reads the endpoint from");
  });
});
