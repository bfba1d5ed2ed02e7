/** Reading the URL secret's stored values (the JSON of one version). */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DsqlUrlSecretValue } from '../lib/contract';

/**
 * AWSCURRENT's stored string and its JSON, read by stage (moto ignores a
 * stage move without it); undefined when there is no value or it is not a
 * JSON object. Fields are unchecked: a hand-edited value may lack any.
 */
export async function readCurrentValue(
  sm: SecretsManagerClient,
  secretId: string,
): Promise<{ raw: string; value: Partial<DsqlUrlSecretValue> } | undefined> {
  let raw: string | undefined;
  try {
    raw = (await sm.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }))).SecretString;
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
  if (raw === undefined) return undefined;
  const value = parseObject(raw);
  return value === undefined ? undefined : { raw, value: value as Partial<DsqlUrlSecretValue> };
}

/** The value stored under `versionId` with AWSPENDING, or undefined if none was written yet. */
export async function readPendingValue(
  sm: SecretsManagerClient,
  secretId: string,
  versionId: string,
): Promise<DsqlUrlSecretValue | undefined> {
  try {
    const out = await sm.send(new GetSecretValueCommand({ SecretId: secretId, VersionId: versionId, VersionStage: 'AWSPENDING' }));
    return out.SecretString === undefined ? undefined : (JSON.parse(out.SecretString) as DsqlUrlSecretValue);
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
}

/** The value stored under `versionId`, whatever its stages (undefined if unreadable). */
export async function readVersionValue(
  sm: SecretsManagerClient,
  secretId: string,
  versionId: string,
): Promise<DsqlUrlSecretValue | undefined> {
  try {
    const out = await sm.send(new GetSecretValueCommand({ SecretId: secretId, VersionId: versionId }));
    return out.SecretString === undefined ? undefined : (JSON.parse(out.SecretString) as DsqlUrlSecretValue);
  } catch {
    return undefined;
  }
}

function parseObject(raw: string): object | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined; // the parser's message quotes the text: never pass it on
  }
}
