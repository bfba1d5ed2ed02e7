import { DeleteAccessKeyCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import {
  CancelRotateSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { keySuffix } from '../core/redact';
import { rotationStateOf } from '../core/rotation-state';
import { log } from './log';

export interface SignerKeysCleanup {
  readonly sm: SecretsManagerClient;
  readonly iam: IAMClient;
  readonly secretArn: string;
  /** The access-key signer's user; null: the role signs and there is nothing to delete. */
  readonly userName: string | null;
  readonly sleep: (ms: number) => Promise<void>;
  /** Waited after each round of deletions before listing again (default 10 s). */
  readonly quietMs?: number;
  /** Listings at most (default 6): keys still appearing in the last one fail the deletion. */
  readonly maxRounds?: number;
}

const DEFAULT_QUIET_MS = 10_000;
const DEFAULT_MAX_ROUNDS = 6;

/**
 * Deletes every access key of the signer user, so that CloudFormation can
 * delete the user. A rotation running meanwhile could create a key after the
 * listing (createSecret replaces the key), so first rotation is stopped: it is
 * turned off (each later step fails its "rotation enabled" guard) and the
 * running rotation's AWSPENDING label removed. A createSecret already past its
 * guard may still create one key, so the user's keys are listed again after a
 * quiet wait until a listing finds none, at most maxRounds times.
 */
export async function deleteSignerKeys(c: SignerKeysCleanup): Promise<string> {
  const userName = c.userName;
  if (!userName) return 'Nothing to delete';
  await stopRotation(c.sm, c.secretArn);
  const quietMs = c.quietMs ?? DEFAULT_QUIET_MS;
  const maxRounds = c.maxRounds ?? DEFAULT_MAX_ROUNDS;
  let deleted = 0;
  for (let round = 1; ; round++) {
    const ids = await listKeys(c.iam, userName);
    if (ids === undefined) return `The signer user ${userName} no longer exists`;
    if (ids.length === 0 && round > 1) return `Deleted ${deleted} access key(s) of the signer user ${userName}`;
    for (const id of ids) await deleteKey(c.iam, userName, id);
    deleted += ids.length;
    if (round > 1 && ids.length > 0) {
      log.warn('initial rotation: a new access key of the signer user appeared while deleting them (a rotation was running)', {
        signerUser: userName,
        round,
      });
    }
    if (round >= maxRounds && ids.length > 0) {
      throw new Error(
        `Deleted ${deleted} access key(s) of the signer user ${userName}, but new ones kept appearing over ${maxRounds} listings ` +
          `${quietMs / 1000} s apart: something still rotates the secret ${c.secretArn}. Stop it, then delete the user's keys by hand ` +
          '(aws iam list-access-keys / delete-access-key) so that the user can be deleted',
      );
    }
    await c.sleep(quietMs);
  }
}

/**
 * Turns rotation off and clears a running rotation's AWSPENDING label. Best
 * effort: the repeated listing is what guarantees the result, so a failure
 * here (the secret already gone, a missing permission) is logged, not thrown.
 */
async function stopRotation(sm: SecretsManagerClient, secretArn: string): Promise<void> {
  const fields = { secretArn };
  try {
    await sm.send(new CancelRotateSecretCommand({ SecretId: secretArn }));
    log.info('initial rotation: turned rotation off before deleting the signer keys', fields);
    const pending = rotationStateOf(await sm.send(new DescribeSecretCommand({ SecretId: secretArn }))).pending;
    if (pending !== undefined) {
      await sm.send(new UpdateSecretVersionStageCommand({ SecretId: secretArn, VersionStage: 'AWSPENDING', RemoveFromVersionId: pending }));
      log.info('initial rotation: cleared the running rotation before deleting the signer keys', { ...fields, versionId: pending });
    }
  } catch (err) {
    log.warn('initial rotation: could not stop rotation before deleting the signer keys; deleting them anyway', {
      ...fields,
      error: `${(err as Error).name}: ${(err as Error).message}`,
    });
  }
}

/** The user's access key ids; undefined when the user no longer exists. */
async function listKeys(iam: IAMClient, userName: string): Promise<string[] | undefined> {
  try {
    const out = await iam.send(new ListAccessKeysCommand({ UserName: userName }));
    return (out.AccessKeyMetadata ?? []).map((k) => k.AccessKeyId).filter((id): id is string => !!id);
  } catch (err) {
    if ((err as Error).name === 'NoSuchEntityException') return undefined;
    throw new Error(
      `Could not list the access keys of the signer user ${userName} (${(err as Error).name}: ${(err as Error).message}); ` +
        'delete them by hand (aws iam list-access-keys / delete-access-key) so that the user can be deleted',
    );
  }
}

async function deleteKey(iam: IAMClient, userName: string, id: string): Promise<void> {
  try {
    await iam.send(new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: id }));
  } catch (err) {
    if ((err as Error).name === 'NoSuchEntityException') return;
    throw new Error(
      `Could not delete access key ${keySuffix(id)} of the signer user ${userName} (${(err as Error).name}: ${(err as Error).message}); ` +
        'delete it by hand (aws iam delete-access-key) so that the user can be deleted',
    );
  }
  log.info('initial rotation: deleted an access key of the signer user before the user is deleted', {
    signerUser: userName,
    key: keySuffix(id),
  });
}
