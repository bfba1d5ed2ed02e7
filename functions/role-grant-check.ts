/**
 * The first rotation's fail-fast for a custom role the team grants itself
 * (DatabaseRole.custom(name, { bootstrap: false })): while it waits, the
 * first-rotation function connects with the pending version's token, as
 * testSecret does. When DSQL keeps refusing it, the rotation cannot pass
 * until an admin grants the role to the signer, so the deployment fails
 * within about a minute with the exact line to run, instead of after the
 * 10-minute wait with a list of usual causes.
 *
 * Only a refusal counts, and only once it has lasted graceSeconds: a new IAM
 * access key is refused for a few seconds after it is created. Any other
 * failure (network, TLS, a token not written yet) is left to the wait.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { RoleGrantCheckConfig } from '../lib/contract';
import { log } from './log';
import { readPendingValue } from './secret-values';

/** The connection check, loaded on first use: pg stays out of the function's cold start. */
export type ConnectionCheck = (
  value: Parameters<typeof import('./connection-check').checkConnection>[0],
  timeoutSeconds: number,
) => Promise<void>;
const loadCheck: () => Promise<ConnectionCheck> = async () => (await import('./connection-check')).checkConnection;

export interface RoleGrantCheckOptions {
  readonly sm: SecretsManagerClient;
  readonly secretArn: string;
  readonly config: RoleGrantCheckConfig;
  readonly now: () => number;
  readonly check?: ConnectionCheck;
}

/** The lines the error asks an admin to run. */
export function grantLines(roleName: string, signerArn: string): string {
  return `CREATE ROLE ${roleName} WITH LOGIN; AWS IAM GRANT ${roleName} TO '${signerArn}';`;
}

/** Returns the check to run at each poll with the version holding AWSPENDING; it throws when the deployment must fail. */
export function newRoleGrantCheck(o: RoleGrantCheckOptions): (pendingVersion: string) => Promise<void> {
  const { roleName, signerArn, graceSeconds, connectTimeoutSeconds } = o.config;
  let firstRefusedAt: number | undefined;
  return async (pendingVersion) => {
    const value = await readPendingValue(o.sm, o.secretArn, pendingVersion).catch(() => undefined);
    // Not written yet, or the placeholder: nothing to try.
    if (value === undefined || value.url === '' || value.username !== roleName) return;
    try {
      await (o.check ?? (await loadCheck()))(value, connectTimeoutSeconds);
      firstRefusedAt = undefined;
      return;
    } catch (err) {
      if ((err as { kind?: string }).kind !== 'auth') return;
    }
    const now = o.now();
    firstRefusedAt ??= now;
    const refusedFor = Math.round((now - firstRefusedAt) / 1000);
    log.info('initial rotation: DSQL refuses the pending token for the custom role', { roleName, signerArn, refusedFor, graceSeconds });
    if (refusedFor < graceSeconds) return;
    throw new Error(
      `The first rotation cannot pass: DSQL refuses the signer's tokens for database role ${roleName} (still after ${refusedFor} s). ` +
        `DatabaseRole.custom('${roleName}', { bootstrap: false }) leaves creating and granting the role to you: as admin, run ` +
        `${grantLines(roleName, signerArn)} and deploy again. A rollback deletes this signer and the next deploy creates one ` +
        "with another ARN: deploy with 'cdk deploy --no-rollback' to keep it while you run the grant (the stack output " +
        'SignerArn names it once deployed). Or remove bootstrap: false, and the construct creates and grants the role itself.',
    );
  };
}
