import { CreateAccessKeyCommand, DeleteAccessKeyCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import {
  DescribeSecretCommandOutput,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignerKeysValue, SignerKind } from '../lib/contract';
import { HandlerConfig, SignerConfig } from './config';
import { keySuffix, redact } from '../core/redact';
import { rotationStateOf } from '../core/rotation-state';
import { KeyGuardContext } from './key-guard';
import { reasonToKeepKeys, signWithCurrentKey } from './signer-key-reuse';
import { log } from './log';
import { SigningCredentials } from './token';

/** What the signer needs of a rotation step (StepContext provides it); the key guard surveys the bound services. */
export interface SignerContext extends KeyGuardContext {
  readonly sm: SecretsManagerClient;
  readonly iam: IAMClient;
  /** rolloutAllowanceSeconds and watchdogIntervalSeconds: how long after a promotion AWSPREVIOUS's key is never deleted. */
  readonly config: Pick<
    HandlerConfig,
    'signer' | 'rolloutAllowanceSeconds' | 'watchdogIntervalSeconds' | 'boundServicesParameter' | 'boundServicesParameterCount'
  >;
  /** The URL secret. */
  readonly secretArn: string;
  /** The version being rotated in. */
  readonly versionId: string;
  readonly metadata: DescribeSecretCommandOutput;
}

type AccessKeySigner = Extract<SignerConfig, { kind: typeof SignerKind.ACCESS_KEY }>;
type StoredKey = SignerKeysValue['keys'][number];

/**
 * The credentials to sign this rotation's token with. Call only when the
 * pending value does not exist yet (createSecret checks that first).
 *
 * - `role`: the function's own credentials (default provider chain). They may
 *   carry an expiration, which then caps the token's expiresAt.
 * - `access-key`: a new access key of the dedicated IAM user, created for this
 *   rotation; see rotateAccessKey.
 */
export async function signingCredentials(ctx: SignerContext, now: Date = new Date()): Promise<SigningCredentials> {
  const signer = ctx.config.signer;
  if (signer.kind === SignerKind.ROLE) return defaultProvider()();
  return rotateAccessKey(ctx, signer, now);
}

/**
 * Replaces the signer user's access key for this rotation:
 *
 * 1. A retry of a createSecret that failed after creating the key reuses it
 *    (the keys secret holds a key stored for this version, and IAM
 *    still has it).
 * 2. Otherwise every key but AWSCURRENT's is deleted (IAM allows two keys per
 *    user, so delete before create), unless a running task may still use one
 *    (reasonToKeepKeys): then nothing is deleted and AWSCURRENT's key signs
 *    this token too (its life is extended; a later rotation deletes the other
 *    key once no task uses it). Without a usable AWSCURRENT key that fails, loudly.
 * 3. A new key is created and written to the keys secret at once, before it
 *    signs anything, so its secret part is never lost.
 */
async function rotateAccessKey(ctx: SignerContext, signer: AccessKeySigner, now: Date): Promise<SigningCredentials> {
  const fields = { secretArn: ctx.secretArn, versionId: ctx.versionId, signerUser: signer.userName };
  const stored = await readSignerKeys(ctx.sm, signer.keysSecretArn);
  const listed = await iamCall('ListAccessKeys', signer, () => ctx.iam.send(new ListAccessKeysCommand({ UserName: signer.userName })));
  const existing = (listed.AccessKeyMetadata ?? []).map((m) => m.AccessKeyId).filter((id): id is string => id !== undefined && id !== '');

  const earlier = stored.keys.find((k) => k.versionId === ctx.versionId);
  if (earlier !== undefined && existing.includes(earlier.accessKeyId)) {
    log.info('createSecret: reusing the access key an earlier attempt of this rotation created', {
      ...fields,
      key: keySuffix(earlier.accessKeyId),
    });
    return { accessKeyId: earlier.accessKeyId, secretAccessKey: earlier.secretAccessKey };
  }
  if (earlier !== undefined) {
    log.warn('createSecret: the access key stored for this rotation no longer exists in IAM; creating another', {
      ...fields,
      key: keySuffix(earlier.accessKeyId),
    });
  }

  const state = rotationStateOf(ctx.metadata);
  const currentKeyId = await signingKeyIdOfVersion(ctx, state.current, 'AWSCURRENT');
  const previousKeyId = await signingKeyIdOfVersion(ctx, state.previous, 'AWSPREVIOUS');
  const toDelete = existing.filter((id) => id !== currentKeyId);

  const signingKeyOf = (versionId: string) => signingKeyIdOfVersion(ctx, versionId);
  const keep = await reasonToKeepKeys(ctx, { state, stored, toDelete, currentKeyId, previousKeyId, now, signingKeyOf });
  if (keep !== undefined) return signWithCurrentKey({ userName: signer.userName, stored, existing, currentKeyId, keep, fields });

  for (const id of toDelete) {
    const usedBy = id === previousKeyId ? 'AWSPREVIOUS' : 'no current or previous version';
    try {
      await iamCall('DeleteAccessKey', signer, () =>
        ctx.iam.send(new DeleteAccessKeyCommand({ UserName: signer.userName, AccessKeyId: id })),
      );
    } catch (err) {
      // Already gone (deleted by an earlier attempt): what we wanted.
      if ((err as { awsErrorName?: string }).awsErrorName !== 'NoSuchEntityException') throw err;
    }
    log.info('createSecret: deleted an access key of the signer user', { ...fields, key: keySuffix(id), usedBy });
  }

  const created = await iamCall('CreateAccessKey', signer, () =>
    ctx.iam.send(new CreateAccessKeyCommand({ UserName: signer.userName })),
  ).catch((err: Error & { awsErrorName?: string }) => {
    throw ACCESS_DENIED.test(err.awsErrorName ?? '') ? accessKeysForbidden(err) : err;
  });
  const accessKeyId = created.AccessKey?.AccessKeyId;
  const secretAccessKey = created.AccessKey?.SecretAccessKey;
  if (!accessKeyId || !secretAccessKey) {
    throw new Error(`createSecret: iam:CreateAccessKey for user ${signer.userName} returned no access key`);
  }
  const kept = stored.keys.filter((k) => k.accessKeyId === currentKeyId && existing.includes(k.accessKeyId));
  const value: SignerKeysValue = {
    keys: [...kept, { accessKeyId, secretAccessKey, versionId: ctx.versionId, createdAt: now.toISOString() }],
  };
  // Before signing: a key whose secret part is lost could never sign a retry.
  await ctx.sm.send(new PutSecretValueCommand({ SecretId: signer.keysSecretArn, SecretString: JSON.stringify(value) }));
  log.info('createSecret: created a new access key for the signer user and stored it', {
    ...fields,
    key: keySuffix(accessKeyId),
    keptKeys: kept.length,
  });
  return { accessKeyId, secretAccessKey };
}

/** IAM's query API answers a denied call with the code AccessDenied (some clients report AccessDeniedException). */
const ACCESS_DENIED = /^AccessDenied(Exception)?$/;

/**
 * Our own policy allows iam:CreateAccessKey on this user, so a denial comes
 * from above it: an organisation policy (SCP) or a permissions boundary. The
 * deploy cannot work around it; say what can.
 */
function accessKeysForbidden(err: Error & { awsErrorName?: string }): Error {
  return Object.assign(
    new Error(
      `${err.message}. The rotation function's own policy allows this call, so an organisation policy (SCP) or a permissions ` +
        'boundary may forbid IAM access keys in this account: have it allow iam:CreateAccessKey for this user, or use ' +
        "signer: TokenSigner.rotationFunctionRole() (no IAM user or access key; its tokens die with the function's role session).",
    ),
    { awsErrorName: err.awsErrorName },
  );
}

/** The signer keys secret's AWSCURRENT value; no value yet means no key. */
async function readSignerKeys(sm: SecretsManagerClient, keysSecretArn: string): Promise<SignerKeysValue> {
  let raw: string | undefined;
  try {
    raw = (await sm.send(new GetSecretValueCommand({ SecretId: keysSecretArn, VersionStage: 'AWSCURRENT' }))).SecretString;
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException') return { keys: [] };
    throw err;
  }
  if (raw === undefined || raw.trim() === '') return { keys: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined; // the parser's message quotes the text: never show it
  }
  const keys = (parsed as { keys?: unknown } | undefined)?.keys;
  if (!Array.isArray(keys) || !keys.every(isStoredKey)) {
    throw new Error(
      `createSecret: the signer keys secret ${keysSecretArn} does not hold {"keys":[{accessKeyId, secretAccessKey, versionId, createdAt}]}`,
    );
  }
  return { keys };
}

function isStoredKey(k: unknown): k is StoredKey {
  const key = k as Partial<Record<keyof StoredKey, unknown>> | null;
  return (
    typeof key === 'object' &&
    key !== null &&
    typeof key.accessKeyId === 'string' &&
    typeof key.secretAccessKey === 'string' &&
    typeof key.versionId === 'string'
  );
}

/**
 * The access key id that signed the token stored in `versionId` of the URL
 * secret (read with `stage` when it holds one); undefined for none or the placeholder.
 */
async function signingKeyIdOfVersion(ctx: SignerContext, versionId: string | undefined, stage?: string): Promise<string | undefined> {
  if (versionId === undefined) return undefined;
  let raw: string | undefined;
  try {
    raw = (await ctx.sm.send(new GetSecretValueCommand({ SecretId: ctx.secretArn, VersionId: versionId, VersionStage: stage })))
      .SecretString;
  } catch (err) {
    if ((err as Error).name !== 'ResourceNotFoundException') throw err;
    // A staged version always has a value; guessing "no key" here could delete a key in use.
    throw new Error(
      `createSecret: cannot read ${stage ?? 'the'} version ${versionId} of ${ctx.secretArn} to tell which access key signed it; ` +
        'no access key was deleted or created',
    );
  }
  let password: unknown;
  try {
    password = (JSON.parse(raw ?? '{}') as { password?: unknown }).password;
  } catch {
    log.warn('createSecret: a version of the URL secret is not JSON; no access key is in use by it', {
      secretArn: ctx.secretArn,
      versionId,
      stage,
    });
    return undefined;
  }
  return typeof password === 'string' ? signingKeyIdOf(password) : undefined;
}

/** Runs an IAM call; a failure names the action and the user, and shows no more than the last 4 characters of a key id. */
async function iamCall<T>(action: string, signer: AccessKeySigner, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const e = err as { name?: string; message?: string };
    // Not `cause`: the original message may carry a whole key id.
    throw Object.assign(
      new Error(
        redact(`createSecret: iam:${action} for user ${signer.userName} failed (${e.name ?? 'Error'}: ${e.message ?? String(err)})`),
      ),
      { awsErrorName: e.name },
    );
  }
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
