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
  | { readonly command: 'status'; readonly secretId: string; readonly json: boolean; readonly aws: AwsOptions };

export const USAGE = `${PROGRAM}: rotate and inspect a secret made by the DsqlUrlSecret construct

Usage:
  ${PROGRAM} rotate --secret-id <name|arn> [--wait [--timeout 30m] [--interval 5s]]
  ${PROGRAM} status --secret-id <name|arn> [--json]

Commands:
  rotate   Start a rotation now (Secrets Manager RotateSecret). With --wait, follow the
           new version from AWSPENDING to AWSCURRENT, then each bound ECS service's new
           deployment until all are COMPLETED, one FAILED, or the timeout passes.
  status   The current version, when it was rotated, when its token expires and how
           long is left, the next rotation, whether a rotation is in progress, and the
           latest deployment of each bound service.

Options:
  --secret-id <id>       The secret's name or ARN (required).
  --wait                 rotate: follow the rotation and the redeployments.
  --timeout <duration>   rotate --wait: give up waiting after this long (default 30m).
                         Durations: 90s, 10m, 1h30m, 500ms; a bare number is seconds.
  --interval <duration>  rotate --wait: time between two polls (default 5s, at least 200ms).
  --json                 status: print JSON instead of text.
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

IAM permissions:
  status   secretsmanager:DescribeSecret and secretsmanager:GetSecretValue on the
           secret (kms:Decrypt too for a customer managed key), ssm:GetParameter on
           its bound-services parameter, ecs:DescribeServices on the bound services;
           secretsmanager:ListSecretVersionIds is optional (age of a pending version).
  rotate   secretsmanager:DescribeSecret, secretsmanager:RotateSecret and
           lambda:InvokeFunction on the rotation function; with --wait also what
           status needs (GetSecretValue only to show the new token's expiry).
`;

const OPTIONS = {
  'secret-id': { type: 'string' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  interval: { type: 'string' },
  json: { type: 'boolean' },
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

export function parseCommandLine(argv: readonly string[]): Command {
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
  if (command !== 'rotate' && command !== 'status') {
    throw new UsageError(`unknown command '${command}': use rotate or status`);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  const secretId = v['secret-id'];
  if (secretId === undefined || secretId.trim() === '') {
    throw new UsageError(`${command} needs --secret-id <name|arn>: the secret the DsqlUrlSecret construct created`);
  }
  if (v['endpoint-url'] !== undefined && !/^https?:\/\/[^\s]+$/.test(v['endpoint-url'])) {
    throw new UsageError(`bad --endpoint-url '${v['endpoint-url']}': give a URL such as https://secretsmanager.eu-west-1.amazonaws.com`);
  }
  const aws: AwsOptions = { region: v.region, endpointUrl: v['endpoint-url'], profile: v.profile };
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
