import { DEFAULT_INTERVAL_MS, DEFAULT_TIMEOUT_MS, parseCommandLine, USAGE } from '../../cli/args';
import { ExitCode, UsageError } from '../../cli/errors';

const usageError = (argv: string[]) => {
  try {
    parseCommandLine(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(ExitCode.USAGE);
    return (err as Error).message;
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`);
};

describe('parseCommandLine', () => {
  test('rotate with defaults', () => {
    expect(parseCommandLine(['rotate', '--secret-id', 'app/db'])).toEqual({
      command: 'rotate',
      secretId: 'app/db',
      wait: false,
      timeoutMs: DEFAULT_TIMEOUT_MS,
      intervalMs: DEFAULT_INTERVAL_MS,
      aws: { region: undefined, endpointUrl: undefined, profile: undefined },
    });
  });

  test('rotate --wait with every option, in any order, with = too', () => {
    expect(
      parseCommandLine([
        '--region',
        'eu-west-1',
        'rotate',
        '--wait',
        '--timeout=1h30m',
        '--interval',
        '2s',
        '--secret-id=arn:aws:secretsmanager:eu-west-1:1:secret:x',
        '--endpoint-url',
        'http://127.0.0.1:5000',
        '--profile',
        'ops',
      ]),
    ).toEqual({
      command: 'rotate',
      secretId: 'arn:aws:secretsmanager:eu-west-1:1:secret:x',
      wait: true,
      timeoutMs: 5_400_000,
      intervalMs: 2_000,
      aws: { region: 'eu-west-1', endpointUrl: 'http://127.0.0.1:5000', profile: 'ops' },
    });
  });

  test('status, with and without --json', () => {
    expect(parseCommandLine(['status', '--secret-id', 's'])).toMatchObject({ command: 'status', secretId: 's', json: false });
    expect(parseCommandLine(['status', '--secret-id', 's', '--json'])).toMatchObject({ command: 'status', json: true });
  });

  test('help and version', () => {
    expect(parseCommandLine(['--help'])).toEqual({ command: 'help' });
    expect(parseCommandLine(['-h'])).toEqual({ command: 'help' });
    expect(parseCommandLine(['rotate', '--help'])).toEqual({ command: 'help' });
    expect(parseCommandLine(['help'])).toEqual({ command: 'help' });
    expect(parseCommandLine(['-v'])).toEqual({ command: 'version' });
    expect(parseCommandLine([])).toEqual({ command: 'usage' });
  });

  test.each([
    [['frobnicate', '--secret-id', 'x'], "unknown command 'frobnicate': use rotate or status"],
    [['rotate'], 'rotate needs --secret-id <name|arn>'],
    [['status', '--secret-id', ''], 'status needs --secret-id'],
    [['status', '--secret-id'], "Option '--secret-id <value>' argument missing"],
    [['status', '--secret-id', 'x', '--bogus'], "Unknown option '--bogus'"],
    [['status', '--secret-id', 'x', 'extra'], "unexpected argument 'extra'"],
    [['rotate', '--secret-id', 'x', '--wait', '--timeout', 'soon'], "bad --timeout value 'soon': use a duration such as 90s, 10m or 1h30m"],
    [['rotate', '--secret-id', 'x', '--wait', '--timeout', '0s'], "bad --timeout value '0s': it must be at least 1ms"],
    [['rotate', '--secret-id', 'x', '--wait', '--timeout', '-5m'], "Option '--timeout' argument is ambiguous"],
    [['rotate', '--secret-id', 'x', '--wait', '--timeout=-5m'], "bad --timeout value '-5m'"],
    [['rotate', '--secret-id', 'x', '--wait', '--interval', '50ms'], "bad --interval value '50ms': it must be at least 200ms"],
    [['rotate', '--secret-id', 'x', '--timeout', '5m'], '--timeout only applies with --wait'],
    [['rotate', '--secret-id', 'x', '--json'], '--json only applies to status'],
    [['status', '--secret-id', 'x', '--wait'], '--wait only applies to rotate'],
    [['status', '--secret-id', 'x', '--endpoint-url', 'localhost:4566'], "bad --endpoint-url 'localhost:4566'"],
  ])('%j is a usage error', (argv, message) => {
    expect(usageError(argv)).toContain(message);
  });

  test('the help documents every exit code and the TTY switch', () => {
    for (const text of [
      '0    Success',
      '1    Error',
      '2    Usage error',
      '3    rotate --wait timed out',
      '130  Interrupted',
      'CDK_DSQL_URL_SECRET_TTY=1',
    ]) {
      expect(USAGE).toContain(text);
    }
  });
});
