import { main } from '../../cli/main';
import { Capture, FakeAws, NEW_VERSION, SECRET_ARN, T0, TOKEN, awsError } from './fixtures';

const aws = new FakeAws();
afterAll(() => aws.restore());
beforeEach(() => aws.reset());

async function run(argv: string[], env: NodeJS.ProcessEnv = {}, onSleep?: (now: number) => void) {
  const stdout = new Capture();
  const stderr = new Capture();
  let now = T0;
  const code = await main({
    argv,
    env,
    stdout,
    stderr,
    now: () => now,
    sleep: async (ms) => {
      now += ms;
      onSleep?.(now);
    },
  });
  expect(stdout.text + stderr.text).not.toContain(TOKEN);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

test('--help: exit 0 on stdout; no command: exit 2 on stderr', async () => {
  const help = await run(['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('Exit codes:');
  const none = await run([]);
  expect(none.code).toBe(2);
  expect(none.stderr).toContain('Usage:');
  expect(none.stdout).toBe('');
});

test('--version', async () => {
  expect(await run(['--version'])).toEqual({ code: 0, stdout: 'dev\n', stderr: '' });
});

test('usage errors exit 2 with the problem and a pointer to --help', async () => {
  const r = await run(['rotate', '--secret-id', 'x', '--wait', '--timeout', 'forever']);
  expect(r).toEqual({
    code: 2,
    stdout: '',
    stderr:
      "error: bad --timeout value 'forever': use a duration such as 90s, 10m or 1h30m (a bare number is seconds)\n" +
      "Run 'cdk-dsql-url-secret --help' for usage.\n",
  });
});

test('errors exit 1 with the message on stderr', async () => {
  aws.state.errors.DescribeSecret = awsError('ResourceNotFoundException');
  const r = await run(['status', '--secret-id', SECRET_ARN]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^error: Secret '.*' not found in eu-west-1\./);
});

test('status --json is JSON', async () => {
  const r = await run(['status', '--secret-id', SECRET_ARN, '--json']);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout).currentVersion.shortId).toBe('11111111');
});

test('rotate --wait: the TTY switch draws the live table even when stdout is not a terminal', async () => {
  aws.reset([]);
  const r = await run(['rotate', '--secret-id', SECRET_ARN, '--wait'], { CDK_DSQL_URL_SECRET_TTY: '1' }, (now) => {
    aws.state.stages = { [NEW_VERSION]: ['AWSCURRENT'] };
    void now;
  });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('\x1b[?25l');
  expect(r.stdout).toContain('Rotating app/database-url');
});

test('an unexpected error still exits 1, redacted', async () => {
  aws.state.errors.DescribeSecret = Object.assign(new TypeError(`boom ${TOKEN}`), { name: 'TypeError' });
  const r = await run(['status', '--secret-id', SECRET_ARN]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^error: DescribeSecret failed: TypeError: boom /);
});
