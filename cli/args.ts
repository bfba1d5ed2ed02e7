/** The command line: parsing (node's util.parseArgs) and the help text. */
import { parseArgs } from 'util';
import { AwsOptions } from './aws';
import { formatDuration, parseDuration } from './duration';
import { UsageError } from './errors';
import { TTY_ENV } from './render';

export const PROGRAM = 'cdk-dsql-url-secret';
export const DEFAULT_TIMEOUT_MS = 30 * 60_000;
export const DEFAULT_INTERVAL_MS = 5_000;
export const MIN_INTERVAL_MS = 200;
export const DEFAULT_VARIABLE = 'DATABASE_URL';
export const DEFAULT_MIN_VALIDITY_MS = 15 * 60_000;
export const DEFAULT_SIGNED_LIFETIME_MS = 15 * 60_000;
/** DSQL's limit for a token's lifetime. */
export const MAX_SIGNED_LIFETIME_MS = 7 * 86_400_000;
/** The value's fields exec can put in the variable. */
export const EXEC_FIELDS = ['url', 'password', 'host', 'port', 'username', 'dbname', 'sslmode'] as const;

export type Command =
  | { readonly command: 'help' }
  /** No command given: the help goes to stderr and the exit code is 2. */
  | { readonly command: 'usage' }
  | { readonly command: 'version' }
  | {
      readonly command: 'rotate';
      readonly secretId: string;
      readonly wait: boolean;
      readonly timeoutMs: number;
      readonly intervalMs: number;
      readonly aws: AwsOptions;
    }
  | { readonly command: 'status'; readonly secretId: string; readonly json: boolean; readonly aws: AwsOptions }
  | {
      readonly command: 'exec';
      readonly secretId: string;
      /** Environment variable the child gets. */
      readonly variable: string;
      readonly field: (typeof EXEC_FIELDS)[number];
      readonly minValidityMs: number;
      /** Mint a token with the caller's credentials instead of reading AWSCURRENT. */
      readonly sign: boolean;
      readonly tokenLifetimeMs: number;
      /** The command to run and its arguments (after `--`). */
      readonly argv: readonly string[];
      readonly aws: AwsOptions;
    };

export const USAGE = `${PROGRAM}: rotate, inspect and use a secret made by the DsqlUrlSecret construct

Usage:
  ${PROGRAM} rotate --secret-id <name|arn> [--wait [--timeout 30m] [--interval 5s]]
  ${PROGRAM} status --secret-id <name|arn> [--json]
  ${PROGRAM} exec --secret-id <name|arn> [--variable DATABASE_URL] [--min-validity 15m]
       [--field url] [--sign [--token-lifetime 15m]] -- <command> [args...]

Commands:
  rotate   Start a rotation now (Secrets Manager RotateSecret). With --wait, follow the
           new version from AWSPENDING to AWSCURRENT, then each bound ECS service's new
           deployment until all are COMPLETED, one FAILED, or the timeout passes.
  status   The current version, when it was rotated, when its token expires and how
           long is left, the next rotation, whether a rotation is in progress, and the
           latest deployment of each bound service.
  exec     Run <command> with AWSCURRENT's URL in its environment (DATABASE_URL), e.g.
           prisma migrate deploy or psql in CI. Refuses when the token has less than
           --min-validity left. Signals (INT, TERM, HUP) go to the command; its exit
           code is exec's. With --sign, mint a fresh token with your own credentials
           for the secret's endpoint and role instead (no GetSecretValue).

Options:
  --secret-id <id>       The secret's name or ARN (required).
  --wait                 rotate: follow the rotation and the redeployments.
  --timeout <duration>   rotate --wait: give up waiting after this long (default 30m).
                         Durations: 90s, 10m, 1h30m, 500ms; a bare number is seconds.
  --interval <duration>  rotate --wait: time between two polls (default 5s, at least 200ms).
  --json                 status: print JSON instead of text.
  --variable <name>      exec: the environment variable to set (default DATABASE_URL).
  --field <name>         exec: which field of the value (default url; also password,
                         host, port, username, dbname, sslmode).
  --min-validity <dur>   exec: refuse a token with less validity left (default 15m).
  --sign                 exec: sign a token with the caller's credentials.
  --token-lifetime <dur> exec --sign: the token's lifetime (default 15m, at most 7d).
  --region <region>      AWS region (default: from an ARN --secret-id, else AWS_REGION or
                         the profile).
  --profile <name>       AWS profile to use.
  --endpoint-url <url>   Send every AWS call to this endpoint (an emulator, a proxy).
  -h, --help             Show this help.
  -v, --version          Show the version.

Output:
  On a terminal, rotate --wait redraws a compact table in place. Otherwise (CI, pipes,
  files) it prints one timestamped line per change, and a reminder each minute when
  nothing changed. ${TTY_ENV}=1 forces the table, =0 the lines.
  Nothing printed ever contains the token, the password, the URL or an access key.

Exit codes:
  0    Success. rotate --wait: the new version is AWSCURRENT and every bound service
       completed a new deployment (deleted services are skipped).
  1    Error: secret not found or not managed by the construct, permission denied,
       a rotation already in progress, any other AWS error; the rotation was
       abandoned; or a bound service's deployment FAILED.
  2    Usage error: unknown command or option, missing --secret-id, bad duration.
  3    rotate --wait timed out. Nothing is stopped: the rotation goes on in AWS.
  130  Interrupted (Ctrl-C). The rotation goes on in AWS.
  exec: the command's exit code (128 + the signal's number if a signal killed it);
  126  the command is not executable; 127  the command was not found.

IAM permissions:
  status   secretsmanager:DescribeSecret and secretsmanager:GetSecretValue on the
           secret (kms:Decrypt too for a customer managed key), ssm:GetParameter on
           its bound-services parameter, ecs:DescribeServices on the bound services;
           secretsmanager:ListSecretVersionIds is optional (age of a pending version).
  rotate   secretsmanager:DescribeSecret, secretsmanager:RotateSecret and
           lambda:InvokeFunction on the rotation function; with --wait also what
           status needs (GetSecretValue only to show the new token's expiry).
  exec     secretsmanager:DescribeSecret and secretsmanager:GetSecretValue (kms:Decrypt
           for a customer managed key). With --sign: DescribeSecret only, and to connect,
           dsql:DbConnectAdmin (role admin) or dsql:DbConnect on the cluster; a custom
           role must be granted to your IAM identity (AWS IAM GRANT).
`;

const OPTIONS = {
  'secret-id': { type: 'string' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  interval: { type: 'string' },
  json: { type: 'boolean' },
  variable: { type: 'string' },
  field: { type: 'string' },
  'min-validity': { type: 'string' },
  sign: { type: 'boolean' },
  'token-lifetime': { type: 'string' },
  region: { type: 'string' },
  profile: { type: 'string' },
  'endpoint-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

function durationOption(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const ms = parseDuration(raw);
  if (ms === undefined) {
    throw new UsageError(`bad --${name} value '${raw}': use a duration such as 90s, 10m or 1h30m (a bare number is seconds)`);
  }
  if (ms < min) throw new UsageError(`bad --${name} value '${raw}': it must be at least ${formatDuration(min)}`);
  return ms;
}

const EXEC_ONLY = ['variable', 'field', 'min-validity', 'sign', 'token-lifetime'] as const;

export function parseCommandLine(argv: readonly string[]): Command {
  // Everything after the first `--` is exec's command, never options of this program.
  const dashes = argv.indexOf('--');
  const childArgv = dashes < 0 ? undefined : argv.slice(dashes + 1);
  argv = dashes < 0 ? argv : argv.slice(0, dashes);
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    // Node's messages name the option: "Unknown option '--foo'", "Option '--secret-id <value>' argument missing".
    throw new UsageError(`${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`);
  }
  const { values: v, positionals } = parsed;
  if (v.version) return { command: 'version' };
  if (v.help || positionals[0] === 'help') return { command: 'help' };
  if (positionals.length === 0) return { command: 'usage' };
  const [command, ...extra] = positionals;
  if (command !== 'rotate' && command !== 'status' && command !== 'exec') {
    throw new UsageError(`unknown command '${command}': use rotate or status, or exec -- <command> to run one with the URL`);
  }
  if (extra.length > 0 && command === 'exec') throw new UsageError(`put the command after --: exec --secret-id <id> -- ${extra[0]} …`);
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  if (childArgv !== undefined && command !== 'exec') throw new UsageError(`unexpected argument '--': only exec runs a command`);
  const secretId = v['secret-id'];
  if (secretId === undefined || secretId.trim() === '') {
    throw new UsageError(`${command} needs --secret-id <name|arn>: the secret the DsqlUrlSecret construct created`);
  }
  if (v['endpoint-url'] !== undefined && !/^https?:\/\/[^\s]+$/.test(v['endpoint-url'])) {
    throw new UsageError(`bad --endpoint-url '${v['endpoint-url']}': give a URL such as https://secretsmanager.eu-west-1.amazonaws.com`);
  }
  const aws: AwsOptions = { region: v.region, endpointUrl: v['endpoint-url'], profile: v.profile };
  if (command === 'exec') return execCommand(secretId, v, childArgv, aws);
  for (const name of EXEC_ONLY) {
    if (v[name] !== undefined) throw new UsageError(`--${name} only applies to exec`);
  }
  if (command === 'status') {
    for (const name of ['wait', 'timeout', 'interval'] as const) {
      if (v[name] !== undefined) throw new UsageError(`--${name} only applies to rotate`);
    }
    return { command, secretId, json: v.json === true, aws };
  }
  if (v.json !== undefined) throw new UsageError('--json only applies to status');
  const wait = v.wait === true;
  for (const name of ['timeout', 'interval'] as const) {
    if (v[name] !== undefined && !wait) throw new UsageError(`--${name} only applies with --wait`);
  }
  return {
    command,
    secretId,
    wait,
    timeoutMs: durationOption('timeout', v.timeout, DEFAULT_TIMEOUT_MS, 1),
    intervalMs: durationOption('interval', v.interval, DEFAULT_INTERVAL_MS, MIN_INTERVAL_MS),
    aws,
  };
}

function execCommand(
  secretId: string,
  v: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true }>>['values'],
  argv: readonly string[] | undefined,
  aws: AwsOptions,
): Command {
  for (const name of ['wait', 'timeout', 'interval', 'json'] as const) {
    if (v[name] !== undefined) throw new UsageError(`--${name} does not apply to exec`);
  }
  if (argv === undefined || argv.length === 0 || argv[0] === '') {
    throw new UsageError('exec needs the command to run after --, e.g. exec --secret-id <id> -- npx prisma migrate deploy');
  }
  const variable = v.variable ?? DEFAULT_VARIABLE;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) {
    throw new UsageError(`bad --variable '${variable}': use an environment variable name (letters, digits and _)`);
  }
  const field = v.field ?? 'url';
  if (!(EXEC_FIELDS as readonly string[]).includes(field))
    throw new UsageError(`bad --field '${field}': use one of ${EXEC_FIELDS.join(', ')}`);
  const sign = v.sign === true;
  if (v['token-lifetime'] !== undefined && !sign) throw new UsageError('--token-lifetime only applies with --sign');
  const minValidityMs = durationOption('min-validity', v['min-validity'], DEFAULT_MIN_VALIDITY_MS, 0);
  const tokenLifetimeMs = durationOption('token-lifetime', v['token-lifetime'], DEFAULT_SIGNED_LIFETIME_MS, 1_000);
  if (tokenLifetimeMs > MAX_SIGNED_LIFETIME_MS)
    throw new UsageError(`bad --token-lifetime '${v['token-lifetime']}': DSQL allows at most 7d`);
  if (sign && tokenLifetimeMs < minValidityMs) {
    throw new UsageError(
      `--token-lifetime ${formatDuration(tokenLifetimeMs)} is shorter than --min-validity ${formatDuration(minValidityMs)}: ` +
        'raise --token-lifetime or lower --min-validity',
    );
  }
  return {
    command: 'exec',
    secretId,
    variable,
    field: field as (typeof EXEC_FIELDS)[number],
    minValidityMs,
    sign,
    tokenLifetimeMs,
    argv,
    aws,
  };
}
