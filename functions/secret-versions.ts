import { DescribeSecretCommandOutput, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DsqlUrlSecretValue, PROMOTED_TAG_KEY } from '../lib/contract';

/** The version that carries `stage`, if any. */
export function versionWithStage(metadata: Pick<DescribeSecretCommandOutput, 'VersionIdsToStages'>, stage: string): string | undefined {
  return Object.entries(metadata.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes(stage))?.[0];
}

/** AWSPENDING on a version that is not AWSCURRENT: a rotation that has not finished (or failed). */
export function pendingVersionOf(metadata: Pick<DescribeSecretCommandOutput, 'VersionIdsToStages'>): string | undefined {
  return Object.entries(metadata.VersionIdsToStages ?? {})
    .find(([, stages]) => stages.includes('AWSPENDING') && !stages.includes('AWSCURRENT'))?.[0];
}

/**
 * AWSCURRENT's stored string and its JSON, read by stage (moto ignores a
 * stage move without it); undefined when there is no value or it is not a
 * JSON object. Fields are unchecked: a hand-edited value may lack any.
 */
export async function readCurrentValue(
  sm: SecretsManagerClient, secretId: string,
): Promise<{ raw: string; value: Partial<DsqlUrlSecretValue> } | undefined> {
  let raw: string | undefined;
  try {
    raw = (await sm.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }))).SecretString;
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
  if (raw === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null ? { raw, value: value as Partial<DsqlUrlSecretValue> } : undefined;
  } catch {
    return undefined; // the parser's message quotes the text: never pass it on
  }
}

/**
 * When `versionId` was promoted to AWSCURRENT, from the `PROMOTED_TAG_KEY`
 * tag (`<versionId> <ISO-8601 time>`) finishSecret writes; undefined when the
 * tag is absent, malformed or names another version.
 */
export function recordedPromotionTime(metadata: Pick<DescribeSecretCommandOutput, 'Tags'>, versionId: string | undefined): Date | undefined {
  if (versionId === undefined) return undefined;
  const tag = metadata.Tags?.find((t) => t.Key === PROMOTED_TAG_KEY)?.Value;
  const [taggedVersion, iso] = (tag ?? '').split(' ');
  if (taggedVersion !== versionId || iso === undefined || Number.isNaN(Date.parse(iso))) return undefined;
  return new Date(iso);
}

/**
 * The access key id a stored token was signed with (the first part of its
 * `X-Amz-Credential`), or undefined for the placeholder (empty password) or
 * anything that is not a presigned token.
 */
export function signingKeyIdOf(token: string | undefined): string | undefined {
  if (token === undefined || token === '') return undefined;
  try {
    const credential = new URL(`https://${token}`).searchParams.get('X-Amz-Credential');
    const keyId = credential?.split('/')[0];
    return keyId === undefined || keyId === '' ? undefined : keyId;
  } catch {
    return undefined;
  }
}

/** The last four characters of an access key id: all a log line may show of it. */
export function keySuffix(accessKeyId: string): string {
  return `…${accessKeyId.slice(-4)}`;
}

/**
 * RotateSecret's answer while AWSPENDING is on a version other than AWSCURRENT
 * (AWS: "A previous rotation isn't complete…"; moto: "Previous rotation
 * request is still in progress.").
 */
export function isRotationInProgressError(err: unknown): boolean {
  const e = err as { name?: string; message?: string } | undefined;
  return e?.name === 'InvalidRequestException'
    && /previous rotation|in progress|isn't complete|is not complete|not yet complete/i.test(e.message ?? '');
}
