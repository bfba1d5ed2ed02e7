import { Client } from 'pg';
import { ADMIN_ROLE_NAME, DsqlUrlSecretValue } from '../lib/contract';

/**
 * Opens a real TLS connection with the pending credentials and runs `SELECT 1`,
 * so a token that DSQL would refuse never becomes AWSCURRENT.
 *
 * The certificate is verified against the host name: DSQL's certificates chain
 * to public roots that Node.js trusts.
 */
export async function checkConnection(value: DsqlUrlSecretValue, timeoutSeconds: number): Promise<void> {
  const client = new Client({
    host: value.host,
    port: value.port,
    user: value.username,
    password: value.password,
    database: value.dbname,
    ssl: { rejectUnauthorized: true, servername: value.host },
    connectionTimeoutMillis: timeoutSeconds * 1000,
    query_timeout: timeoutSeconds * 1000,
  });
  // A socket error after connect would otherwise crash the process.
  client.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error(`timed out after ${timeoutSeconds} s`), { code: 'ETIMEDOUT' })),
      timeoutSeconds * 1000,
    );
  });
  try {
    await Promise.race([
      (async () => {
        await client.connect();
        await client.query('SELECT 1');
      })(),
      deadline,
    ]);
  } catch (err) {
    throw new ConnectionCheckError(explainConnectionFailure(value, err), classifyConnectionFailure(err));
  } finally {
    clearTimeout(timer);
    await client.end().catch(() => undefined);
  }
}

/** What kind of failure a connection check met; `auth` means DSQL refused the token. */
export type ConnectionFailureKind = 'auth' | 'network' | 'tls' | 'other';

/**
 * The error checkConnection throws. Callers test the plain `kind` property,
 * not `instanceof`, so the check works where this module is mocked.
 */
export class ConnectionCheckError extends Error {
  constructor(
    message: string,
    readonly kind: ConnectionFailureKind,
  ) {
    super(message);
    this.name = 'ConnectionCheckError';
  }
}

export function classifyConnectionFailure(err: unknown): ConnectionFailureKind {
  const e = err as { code?: string; message?: string };
  const detail = e.message ?? String(err);
  if (e.code === '28000' || e.code === '28P01' || /access denied|authentication|password/i.test(detail)) return 'auth';
  if (
    ['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(e.code ?? '') ||
    /timeout|timed out/i.test(detail)
  ) {
    return 'network';
  }
  if (/certificate|self[- ]signed|SSL|TLS/i.test(detail)) return 'tls';
  return 'other';
}

/** Turns a driver error into a message that names the likely cause and the fix. */
export function explainConnectionFailure(value: Pick<DsqlUrlSecretValue, 'host' | 'port' | 'username'>, err: unknown): string {
  const e = err as { code?: string; message?: string };
  const where = `${value.host}:${value.port} as '${value.username}'`;
  const detail = e.message ?? String(err);
  const action = value.username === ADMIN_ROLE_NAME ? 'dsql:DbConnectAdmin' : 'dsql:DbConnect';
  const kind = classifyConnectionFailure(err);
  if (kind === 'auth') {
    const grant =
      value.username === ADMIN_ROLE_NAME
        ? ''
        : ` and that the role was granted to the signer: AWS IAM GRANT ${value.username} TO '<signer IAM ARN>'`;
    return `testSecret: DSQL rejected the new token at ${where} (${detail}). Check that the signing identity has ${action} on the cluster${grant}.`;
  }
  if (kind === 'network') {
    return (
      `testSecret: could not reach ${where} (${e.code ?? 'timeout'}: ${detail}). Check the function's network path to the ` +
      `endpoint (VPC routing, NAT or the DSQL VPC endpoint, security groups).`
    );
  }
  if (kind === 'tls') {
    return `testSecret: TLS to ${where} failed (${detail}). DSQL requires TLS; check that the host name is the cluster endpoint.`;
  }
  return `testSecret: connecting to ${where} failed (${e.code ?? 'error'}: ${detail}).`;
}
