import { DeleteAccessKeyCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { keySuffix } from '../core/redact';
import { log } from './log';

/** Deletes every access key of the signer user, so that CloudFormation can delete the user. */
export async function deleteSignerKeys(iam: IAMClient, userName: string | null): Promise<string> {
  if (!userName) return 'Nothing to delete';
  let ids: string[];
  try {
    const out = await iam.send(new ListAccessKeysCommand({ UserName: userName }));
    ids = (out.AccessKeyMetadata ?? []).map((k) => k.AccessKeyId).filter((id): id is string => !!id);
  } catch (err) {
    if ((err as Error).name === 'NoSuchEntityException') return `The signer user ${userName} no longer exists`;
    throw new Error(
      `Could not list the access keys of the signer user ${userName} (${(err as Error).name}: ${(err as Error).message}); ` +
        'delete them by hand (aws iam list-access-keys / delete-access-key) so that the user can be deleted',
    );
  }
  for (const id of ids) {
    try {
      await iam.send(new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: id }));
    } catch (err) {
      if ((err as Error).name === 'NoSuchEntityException') continue;
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
  return `Deleted ${ids.length} access key(s) of the signer user ${userName}`;
}
