/**
 * AWS refuses writes to a secret scheduled for deletion (InvalidRequestException,
 * "You can't perform this operation on the secret because it was marked for
 * deletion."); moto 5.2.1 refuses GetSecretValue, RotateSecret, UpdateSecret
 * and CancelRotateSecret like AWS, but lets PutSecretValue and
 * UpdateSecretVersionStage through, so a handler that ignored the deletion
 * would promote a version here and fail on AWS. This guard, installed on the
 * fault proxy, answers those two as AWS does.
 */
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AwsRefusal, FaultProxy } from './fault-proxy';

/** The writes moto allows on a secret scheduled for deletion and AWS refuses. */
export const REFUSED_WHILE_DELETED: readonly string[] = ['PutSecretValue', 'UpdateSecretVersionStage'];

export const MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion.";

/**
 * A FaultProxy guard that asks moto (directly, through `motoSm`) whether the
 * call's secret is scheduled for deletion: no state of its own, so
 * DeleteSecret and RestoreSecret by name or ARN need no tracking.
 */
export function refuseWritesToDeletedSecrets(motoSm: SecretsManagerClient): NonNullable<FaultProxy['guard']> {
  return async (operation, body) => {
    if (!REFUSED_WHILE_DELETED.includes(operation)) return undefined;
    let secretId: unknown;
    try {
      secretId = (JSON.parse(body) as { SecretId?: unknown }).SecretId;
    } catch {
      return undefined; // moto answers a malformed request itself
    }
    if (typeof secretId !== 'string') return undefined;
    const described = await motoSm.send(new DescribeSecretCommand({ SecretId: secretId })).catch(() => undefined);
    if (described?.DeletedDate === undefined || described.DeletedDate === null) return undefined;
    const refusal: AwsRefusal = { errorType: 'InvalidRequestException', message: MARKED_FOR_DELETION };
    return refusal;
  };
}
