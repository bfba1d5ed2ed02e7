/**
 * Reads the URL secret's metadata and checks that the DsqlUrlSecret construct
 * manages it. Everything the CLI needs (the bound-services parameter, the
 * rotation interval) comes from the secret's tags, never from the CDK app.
 */
import {
  DescribeSecretCommand,
  DescribeSecretCommandOutput,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
} from '@aws-sdk/client-secrets-manager';
import { RotationState, rotationStateOf } from '../core/rotation-state';
import { versionCreationDates as readVersionDates } from '../core/version-dates';
import { decodeRotationInterval, PromotionHistoryTag, PromotionRecord, SecretTag } from '../lib/secret-tags';
import { awsCall, Clients } from './aws';
import { CliError, errorName, explainAwsError } from './errors';

export interface ManagedSecret {
  readonly arn: string;
  readonly name: string;
  /** Value of the managed-by tag: the construct's path in the CDK app. */
  readonly managedBy: string;
  /** Name of the SSM parameter listing the bound services; undefined if the tag is missing. */
  readonly boundServicesParameter?: string;
  /** From the rotation-interval tag. */
  readonly rotationIntervalSeconds?: number;
  readonly rotationEnabled: boolean;
  readonly rotationLambdaArn?: string;
  readonly lastRotatedDate?: Date;
  readonly nextRotationDate?: Date;
  /** versionId → staging labels; versions without labels left out. */
  readonly stages: Readonly<Record<string, readonly string[]>>;
  readonly currentVersion?: string;
  /** AWSPENDING on a version other than AWSCURRENT: a rotation that has not finished. */
  readonly pendingVersion?: string;
  /** From the promoted tag finishSecret writes: which version, and when it became AWSCURRENT. */
  readonly promoted?: { readonly versionId: string; readonly at: Date };
  /** Set while a rotation was deferred (a no-op): the watchdog rotates for real after this time. */
  readonly deferredUntil?: Date;
  /** The whole rotation state (core/rotation-state.ts), for the fleet rules (core/fleet.ts). */
  readonly rotationState: RotationState;
  /** From the promotions tag finishSecret writes, newest first; [] before it exists. */
  readonly promotionHistory: readonly PromotionRecord[];
}

/** What the CLI reads from AWSCURRENT's JSON: never the url or the password. */
export interface CurrentValueInfo {
  readonly versionId?: string;
  /** The placeholder the construct stores before the first rotation (empty url). */
  readonly placeholder: boolean;
  readonly expiresAt?: Date;
  readonly issuedAt?: Date;
  readonly host?: string;
  readonly username?: string;
  /** Set when AWSCURRENT is not this construct's JSON. */
  readonly problem?: string;
}

/** Fails with an explained error when the secret does not exist or is not managed by the construct. */
export async function describeManagedSecret(clients: Clients, secretId: string): Promise<ManagedSecret> {
  let out: DescribeSecretCommandOutput;
  try {
    out = await clients.sm.send(new DescribeSecretCommand({ SecretId: secretId }));
  } catch (err) {
    if (errorName(err) === 'ResourceNotFoundException') {
      const region = await clients.sm.config.region().catch(() => undefined);
      throw new CliError(
        `Secret '${secretId}' not found${region ? ` in ${region}` : ''}. Check the name or ARN and the region ` +
          "(--region, AWS_REGION, or pass the full ARN); the construct's secret is `dbUrl.secret.secretArn` in your CDK app.",
      );
    }
    throw explainAwsError(err, describeCall(secretId), clients.endpointUrl);
  }
  return parseManagedSecret(out, secretId);
}

export function describeCall(secretId: string) {
  return { api: 'DescribeSecret', action: 'secretsmanager:DescribeSecret', resource: `the secret ${secretId}` };
}

export function parseManagedSecret(out: DescribeSecretCommandOutput, secretId: string): ManagedSecret {
  const arn = out.ARN ?? secretId;
  const name = out.Name ?? secretId;
  if (out.DeletedDate !== undefined && out.DeletedDate !== null) {
    throw new CliError(
      `Secret ${name} is scheduled for deletion (since ${out.DeletedDate.toISOString()}). ` +
        `Restore it first: aws secretsmanager restore-secret --secret-id ${arn}`,
    );
  }
  const tags = new Map((out.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  const managedBy = tags.get(SecretTag.MANAGED_BY);
  if (managedBy === undefined) {
    throw new CliError(
      `Secret ${name} is not managed by cdk-dsql-url-secret: it has no tag '${SecretTag.MANAGED_BY}'. ` +
        'Pass the secret the DsqlUrlSecret construct created (dbUrl.secret.secretArn); ' +
        'if it was deployed by an older version of the construct, deploy the stack again with this version to add the tags.',
    );
  }
  const state = rotationStateOf(out);
  return {
    arn,
    name,
    managedBy,
    boundServicesParameter: tags.get(SecretTag.BOUND_SERVICES_PARAMETER) || undefined,
    rotationIntervalSeconds: decodeRotationInterval(tags.get(SecretTag.ROTATION_INTERVAL_SECONDS)),
    rotationEnabled: out.RotationEnabled === true,
    rotationLambdaArn: out.RotationLambdaARN || undefined,
    lastRotatedDate: out.LastRotatedDate ?? undefined,
    nextRotationDate: out.NextRotationDate ?? undefined,
    stages: state.stages,
    currentVersion: state.current,
    pendingVersion: state.pending,
    promoted: state.promoted,
    deferredUntil: state.deferred?.until,
    rotationState: state,
    promotionHistory: PromotionHistoryTag.decode(tags.get(PromotionHistoryTag.key)),
  };
}

/**
 * Reads AWSCURRENT (always by stage: moto, and AWS right after a stage move,
 * may otherwise return another version) and keeps only what may be shown.
 * The parsed value never leaves this function.
 */
export async function readCurrentValueInfo(clients: Clients, secret: Pick<ManagedSecret, 'arn'>): Promise<CurrentValueInfo> {
  const out = await awsCall(
    {
      api: 'GetSecretValue',
      action: 'secretsmanager:GetSecretValue',
      resource: `the secret ${secret.arn}`,
    },
    () => clients.sm.send(new GetSecretValueCommand({ SecretId: secret.arn, VersionStage: 'AWSCURRENT' })),
    clients.endpointUrl,
  );
  return valueInfo(out.VersionId, out.SecretString);
}

export function valueInfo(versionId: string | undefined, secretString: string | undefined): CurrentValueInfo {
  let parsed: Record<string, unknown>;
  try {
    const value: unknown = JSON.parse(secretString ?? '');
    if (typeof value !== 'object' || value === null) throw new Error('not an object');
    parsed = value as Record<string, unknown>;
  } catch {
    return { versionId, placeholder: false, problem: 'AWSCURRENT does not hold JSON: it was not written by the rotation function' };
  }
  const date = (v: unknown) => {
    if (typeof v !== 'string' || v === '') return undefined;
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? undefined : d;
  };
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const placeholder = parsed.url === '' || parsed.url === undefined;
  const expiresAt = date(parsed.expiresAt);
  return {
    versionId,
    placeholder,
    expiresAt,
    issuedAt: date(parsed.issuedAt),
    host: text(parsed.host),
    username: text(parsed.username),
    problem: !placeholder && expiresAt === undefined ? 'AWSCURRENT has no valid expiresAt' : undefined,
  };
}

/** When each version was created (every page of ListSecretVersionIds); empty when that call is not allowed. */
export async function versionCreationDates(clients: Clients, secretArn: string): Promise<Map<string, Date>> {
  try {
    return await readVersionDates((NextToken) =>
      clients.sm.send(new ListSecretVersionIdsCommand({ SecretId: secretArn, NextToken, MaxResults: 100 })),
    );
  } catch {
    // Optional detail (how long a rotation has been in progress): a missing permission only hides it.
    return new Map();
  }
}
