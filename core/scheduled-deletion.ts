/**
 * A secret scheduled for deletion (DescribeSecret carries DeletedDate). AWS
 * refuses GetSecretValue, PutSecretValue and UpdateSecretVersionStage on it,
 * but a step that reads only the metadata (finishSecret of a version already
 * AWSCURRENT) would still redeploy every bound service: every reader stops at
 * the first DescribeSecret instead. Pure: no call.
 */

/** The part of DescribeSecret's output that says so. */
export interface DeletionMetadata {
  readonly DeletedDate?: Date | null;
}

/** When the secret was scheduled for deletion; undefined when it is not. */
export function scheduledDeletionOf(metadata: DeletionMetadata): Date | undefined {
  return metadata.DeletedDate ?? undefined;
}

/**
 * Why `who` stopped, what it left alone, and the fix. Restoring is the only
 * way back: after the recovery window the secret, and the URL every new task
 * reads, are gone.
 */
export function scheduledDeletionMessage(who: string, secretArn: string, deletedDate: Date, leftAlone: string): string {
  return (
    `${who}: secret ${secretArn} is scheduled for deletion (since ${deletedDate.toISOString()}): ${leftAlone}. Restore it with ` +
    `'aws secretsmanager restore-secret --secret-id ${secretArn}', or remove the DsqlUrlSecret construct if the deletion is meant`
  );
}
