import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { DsqlSigner } from '@aws-sdk/dsql-signer';
import { Client } from 'pg';
import { ADMIN_ROLE_NAME, FunctionBundle, RoleBootstrapFunctionConfig } from '../lib/contract';
import { answer, CustomResourceEvent, CustomResourceResponse } from './cfn-response';
import { readFunctionConfig } from './config';
import { log } from './log';
import { bootstrapRole, checkBootstrapInput, SqlSession } from './role-bootstrap-sql';

export interface RoleBootstrapOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Opens the admin session (default: an admin token signed with the function's credentials, over TLS). */
  readonly connect?: (config: RoleBootstrapFunctionConfig) => Promise<SqlSession & { end(): Promise<void> }>;
  readonly responseRetryDelaysMs?: readonly number[];
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * The role bootstrap, as a CloudFormation custom resource invoked directly
 * (ServiceToken = this function), so it answers on the ResponseURL itself.
 * The first-rotation custom resource depends on it.
 *
 * - Create and Update: connect as admin (this function's role has
 *   dsql:DbConnectAdmin on this cluster only), create the role if missing,
 *   map it to the signer if not mapped yet, run the SQL grants. Re-running
 *   changes nothing.
 * - Delete: nothing. Revoking the mapping or dropping the role could lock out
 *   a service still running, or another stack using the same role: the
 *   answer says what an admin would run to remove them.
 *
 * The physical id names the role and the endpoint: a change of either makes
 * CloudFormation delete the old resource, which revokes nothing.
 */
export async function roleBootstrapHandler(event: CustomResourceEvent): Promise<CustomResourceResponse> {
  return runRoleBootstrap(event);
}

export async function runRoleBootstrap(event: CustomResourceEvent, options: RoleBootstrapOptions = {}): Promise<CustomResourceResponse> {
  const fields = {
    requestType: event.RequestType,
    logicalResourceId: event.LogicalResourceId,
    stackId: event.StackId,
    requestId: event.RequestId,
  };
  log.info('role bootstrap: request received', fields);
  let physicalId = event.PhysicalResourceId ?? event.LogicalResourceId;
  let status: CustomResourceResponse['Status'] = 'SUCCESS';
  let reason: string;
  try {
    const config = readFunctionConfig(FunctionBundle.ROLE_BOOTSTRAP, options.env ?? process.env);
    if (event.RequestType === 'Delete') {
      reason = deleteReason(event, config);
    } else if (event.RequestType === 'Create' || event.RequestType === 'Update') {
      const input = checkBootstrapInput(config);
      physicalId = `${input.roleName}@${config.host}`;
      const db = await (options.connect ?? connectAsAdmin)(config);
      try {
        const outcome = await bootstrapRole(db, input);
        log.info('role bootstrap: done', { ...fields, roleName: input.roleName, signerArn: input.signerArn, ...outcome });
        reason =
          `Role ${input.roleName} ${outcome.roleCreated ? 'created' : 'already existed'}; ` +
          `${outcome.grantedToSigner ? 'granted' : 'already granted'} to ${input.signerArn}; ${outcome.sqlGrants} SQL grant(s) applied`;
      } finally {
        await db.end().catch(() => undefined);
      }
    } else {
      throw new Error(`Unknown RequestType '${String((event as { RequestType?: unknown }).RequestType)}'`);
    }
  } catch (err) {
    status = 'FAILED';
    reason = `Role bootstrap: ${(err as Error)?.message ?? String(err)}`;
  }
  return answer(event, {
    status,
    reason,
    physicalResourceId: physicalId,
    logMessage: 'role bootstrap: responding',
    logFields: fields,
    retryDelaysMs: options.responseRetryDelaysMs,
    sleep: options.sleep,
  });
}

/** Delete revokes nothing: it names what was left in place and how an admin would remove it. */
function deleteReason(event: CustomResourceEvent, config: RoleBootstrapFunctionConfig): string {
  // The properties of the resource being deleted: after a change of role they differ from the configuration.
  const props = event.ResourceProperties ?? {};
  const roleName = typeof props.RoleName === 'string' ? props.RoleName : config.roleName;
  const signerArn = typeof props.SignerArn === 'string' ? props.SignerArn : config.signerArn;
  log.info('role bootstrap: delete revokes nothing', { roleName, signerArn });
  return (
    `Nothing revoked: role ${roleName} and its grant to ${signerArn} stay in place (services or other stacks may still use them). ` +
    `To remove them, as admin: AWS IAM REVOKE ${roleName} FROM '${signerArn}'; DROP ROLE ${roleName};`
  );
}

/** An admin session over verified TLS, with an admin token signed by this function's own credentials. */
async function connectAsAdmin(config: RoleBootstrapFunctionConfig): Promise<SqlSession & { end(): Promise<void> }> {
  const signer = new DsqlSigner({ hostname: config.host, region: config.region, expiresIn: 900, credentials: defaultProvider() });
  const client = new Client({
    host: config.host,
    port: config.port,
    user: ADMIN_ROLE_NAME,
    password: await signer.getDbConnectAdminAuthToken(),
    database: config.database,
    ssl: { rejectUnauthorized: true, servername: config.host },
    connectionTimeoutMillis: config.connectTimeoutSeconds * 1000,
    query_timeout: config.connectTimeoutSeconds * 1000,
  });
  // A socket error after connect would otherwise crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    const e = err as { code?: string; message?: string };
    throw new Error(
      `could not connect to ${config.host}:${config.port} as admin (${e.code ?? 'error'}: ${e.message ?? String(err)}). ` +
        "Check that this function's role has dsql:DbConnectAdmin on the cluster and a network path to the endpoint",
    );
  }
  return client;
}
