/**
 * `exec`: runs a command (a migration, psql, a CI script) with the URL in its environment.
 * The URL comes from AWSCURRENT, or with --sign from a token minted here with the caller's own
 * credentials for the endpoint the secret's endpoint tag names. The URL and the token go to the
 * command's environment only: nothing this file prints holds them.
 */
import { DescribeSecretCommand, DescribeSecretCommandOutput, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { DsqlSigner } from '@aws-sdk/dsql-signer';
import type { AwsCredentialIdentity } from '@smithy/types';
import { connectionUrl } from '../core/url-settings';
import { ADMIN_ROLE_NAME } from '../lib/contract';
import { EndpointSettings, EndpointTag } from '../lib/secret-tags';
import { EXEC_FIELDS } from './args';
import { awsCall, Clients, regionFromArn } from './aws';
import { ChildOutcome, runChild, SignalSource, SpawnFn } from './child-process';
import { formatDuration } from './duration';
import { CliError, errorName, explainAwsError } from './errors';
import { shortId } from './format';
import { describeCall, describeManagedSecret, ManagedSecret, parseManagedSecret, valueInfo } from './secret';
import { OutStream } from './render';
import { redact } from '../core/redact';

export interface ExecOptions {
  readonly secretId: string;
  readonly variable: string;
  readonly field: (typeof EXEC_FIELDS)[number];
  readonly minValidityMs: number;
  readonly sign: boolean;
  readonly tokenLifetimeMs: number;
  readonly argv: readonly string[];
  /** --profile, for the signer's credentials. */
  readonly profile?: string;
}

export interface ExecDeps {
  readonly clients: Clients;
  /** The caller's environment: the command gets it, plus the variable. */
  readonly env: NodeJS.ProcessEnv;
  readonly stderr: OutStream;
  readonly now?: () => number;
  readonly spawn?: SpawnFn;
  readonly signals?: SignalSource;
  /** --sign: the caller's credentials (default: the SDK's default chain, with --profile). */
  readonly credentials?: () => Promise<AwsCredentialIdentity>;
}

/** The value's fields exec can hand over, as strings. */
type Fields = Record<(typeof EXEC_FIELDS)[number], string>;

interface Connection {
  readonly fields: Fields;
  readonly expiresAt: Date;
  /** For the min-validity message: where the token came from. */
  readonly source: string;
}

export async function runExec(opts: ExecOptions, deps: ExecDeps): Promise<number> {
  // One moment for the whole check: a token signed for exactly --min-validity must pass.
  const now = (deps.now ?? Date.now)();
  const { secret, tags } = await describeWithTags(deps.clients, opts.secretId);
  const connection = opts.sign ? await signedConnection(secret, tags, opts, deps, now) : await storedConnection(deps.clients, secret);

  const left = connection.expiresAt.getTime() - now;
  if (left < opts.minValidityMs) {
    const has = left <= 0 ? `expired ${formatDuration(-left)} ago` : `has ${formatDuration(left)} of validity left`;
    throw new CliError(
      `The token (${connection.source}) ${has}, less than --min-validity ${formatDuration(opts.minValidityMs)}. ` +
        (opts.sign
          ? 'Your credentials expire before then: refresh them (aws sso login, a new session) or lower --min-validity.'
          : `Rotate first: cdk-dsql-url-secret rotate --secret-id ${secret.arn} --wait (or pass --sign, or lower --min-validity).`),
    );
  }

  const [command, ...args] = opts.argv;
  const outcome = await runChild({
    command,
    args,
    env: { ...deps.env, [opts.variable]: connection.fields[opts.field] },
    spawn: deps.spawn,
    signals: deps.signals,
  });
  if (outcome.kind === 'not-started') deps.stderr.write(`error: ${redact(notStartedMessage(command, outcome))}\n`);
  return outcome.code;
}

function notStartedMessage(command: string, outcome: Extract<ChildOutcome, { kind: 'not-started' }>): string {
  if (outcome.errno === 'ENOENT') {
    return `command not found: '${command}'. Check the name and PATH (for a package's tool, run it through npx, e.g. -- npx prisma …).`;
  }
  if (outcome.code === 126) return `cannot run '${command}': it is not executable (${outcome.errno}). Check its permissions (chmod +x).`;
  return `cannot run '${command}' (${outcome.errno}).`;
}

/** DescribeSecret once: the managed-by check and the tags exec needs. */
async function describeWithTags(clients: Clients, secretId: string): Promise<{ secret: ManagedSecret; tags: Map<string, string> }> {
  let out: DescribeSecretCommandOutput;
  try {
    out = await clients.sm.send(new DescribeSecretCommand({ SecretId: secretId }));
  } catch (err) {
    // describeManagedSecret words "not found" as the other commands do (it asks once more to do so).
    if (errorName(err) === 'ResourceNotFoundException') await describeManagedSecret(clients, secretId);
    throw explainAwsError(err, describeCall(secretId), clients.endpointUrl);
  }
  const secret = parseManagedSecret(out, secretId);
  return { secret, tags: new Map((out.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])) };
}

/** AWSCURRENT's value, checked: a token, and when it expires. */
async function storedConnection(clients: Clients, secret: ManagedSecret): Promise<Connection> {
  const out = await awsCall(
    { api: 'GetSecretValue', action: 'secretsmanager:GetSecretValue', resource: `the secret ${secret.arn}` },
    // Always by stage: moto, and AWS right after a stage move, may otherwise answer another version.
    () => clients.sm.send(new GetSecretValueCommand({ SecretId: secret.arn, VersionStage: 'AWSCURRENT' })),
    clients.endpointUrl,
  );
  const info = valueInfo(out.VersionId, out.SecretString);
  if (info.placeholder) {
    throw new CliError(
      `No token yet: the first rotation has not completed (AWSCURRENT of ${secret.name} is the placeholder). ` +
        `Run cdk-dsql-url-secret rotate --secret-id ${secret.arn} --wait, or see why it failed with cdk-dsql-url-secret status.`,
    );
  }
  if (info.problem !== undefined || info.expiresAt === undefined) throw new CliError(`${info.problem ?? 'no expiresAt'} (${secret.name})`);
  const value = JSON.parse(out.SecretString!) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
  const fields = Object.fromEntries(EXEC_FIELDS.map((f) => [f, text(value[f])])) as Fields;
  return { fields, expiresAt: info.expiresAt, source: `AWSCURRENT version ${shortId(info.versionId)}` };
}

/** `<id>.dsql.<region>.on.aws` names its region; other hosts (PrivateLink) take the secret's. */
export function regionOf(host: string, secretArn: string): string | undefined {
  return /^[a-z0-9]+\.dsql(?:-[a-z0-9]+)?\.([a-z0-9-]+)\.on\.aws$/.exec(host)?.[1] ?? regionFromArn(secretArn);
}

/** --sign: a token minted here with the caller's credentials, for the endpoint the tag names. */
async function signedConnection(
  secret: ManagedSecret,
  tags: Map<string, string>,
  opts: ExecOptions,
  deps: ExecDeps,
  now: number,
): Promise<Connection> {
  const settings: EndpointSettings | undefined = EndpointTag.decode(tags.get(EndpointTag.key));
  if (settings === undefined) {
    throw new CliError(
      `Secret ${secret.name} has no valid tag '${EndpointTag.key}', which --sign reads the endpoint from. Deploy the stack again ` +
        'with this version of the construct (it is left out when the URL would not fit in a tag), or run exec without --sign.',
    );
  }
  const call = { api: 'signing a DSQL token (--sign)', action: 'credentials', resource: 'this machine' };
  const credentials = await awsCall(call, () => (deps.credentials ?? defaultProvider({ profile: opts.profile }))());
  const region = regionOf(settings.host, secret.arn);
  if (region === undefined)
    throw new CliError(`--sign cannot tell the region of ${settings.host}: pass the secret's full ARN as --secret-id`);
  const signer = new DsqlSigner({ hostname: settings.host, region, credentials, expiresIn: Math.round(opts.tokenLifetimeMs / 1000) });
  const token = await awsCall(call, () =>
    settings.username === ADMIN_ROLE_NAME ? signer.getDbConnectAdminAuthToken() : signer.getDbConnectAuthToken(),
  );
  // A token dies with the credentials that signed it.
  const expiresAt = Math.min(now + opts.tokenLifetimeMs, credentials.expiration?.getTime() ?? Infinity);
  const fields: Fields = {
    url: connectionUrl(settings, token),
    password: token,
    host: settings.host,
    port: String(settings.port),
    username: settings.username,
    dbname: settings.database,
    sslmode: new URLSearchParams(settings.urlQuery).get('sslmode') ?? 'require',
  };
  return { fields, expiresAt: new Date(expiresAt), source: `signed now with your credentials` };
}
