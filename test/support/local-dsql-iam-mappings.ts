/**
 * DSQL's mapping of database roles to IAM identities, for the local endpoint: `AWS IAM GRANT r TO
 * 'arn'` records that a token signed by `arn` may log in as `r` (DbConnect), `AWS IAM REVOKE r FROM
 * 'arn'` removes it, and `sys.iam_pg_role_mappings` shows the pairs, with DSQL's columns. The table
 * lives in the real PostgreSQL behind the endpoint, so SELECTs of it run there as plain SQL; only
 * the endpoint (as the `postgres` superuser) writes it, when it intercepts an AWS IAM statement.
 *
 * Assumption, stricter than documented: granting a pair that exists, or revoking one that does not,
 * is an error, so code that does not check sys.iam_pg_role_mappings first fails here.
 */
import { Client } from 'pg';

/** A parsed `AWS IAM GRANT|REVOKE`, or the syntax error's message. */
export type AwsIamStatement = { action: 'GRANT' | 'REVOKE'; role: string; arn: string } | { error: string };

const STATEMENT = /^\s*AWS\s+IAM\s+(GRANT|REVOKE)\s+([a-z_][a-z0-9_$]*|"[^"]+")\s+(TO|FROM)\s+'([^']*)'\s*;?\s*$/i;

/** Whether a simple query is DSQL's own syntax that PostgreSQL does not know. */
export function isAwsIamStatement(sql: string): boolean {
  return /^\s*AWS\s+IAM\b/i.test(sql);
}

export function parseAwsIamStatement(sql: string): AwsIamStatement {
  const m = STATEMENT.exec(sql);
  if (!m)
    return { error: `syntax error in AWS IAM statement: expected AWS IAM GRANT <role> TO '<arn>' or AWS IAM REVOKE <role> FROM '<arn>'` };
  const action = m[1].toUpperCase() as 'GRANT' | 'REVOKE';
  if ((action === 'GRANT') !== (m[3].toUpperCase() === 'TO')) return { error: `syntax error at or near "${m[3]}"` };
  const role = m[2].startsWith('"') ? m[2].slice(1, -1) : m[2].toLowerCase();
  return { action, role, arn: m[4] };
}

/** A failure the endpoint sends back as an ErrorResponse (SQLSTATE and message). */
export class SqlError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const SETUP = `
  CREATE SCHEMA IF NOT EXISTS sys;
  CREATE TABLE IF NOT EXISTS sys.iam_pg_role_mappings (
    iam_oid serial, arn text NOT NULL, pg_role_oid oid NOT NULL, pg_role_name name NOT NULL,
    grantor_pg_role_oid oid, grantor_pg_role_name name, UNIQUE (pg_role_name, arn)
  );
  GRANT USAGE ON SCHEMA sys TO PUBLIC;
  GRANT SELECT ON sys.iam_pg_role_mappings TO PUBLIC;
`;

export class IamRoleMappings {
  /** Connects to the backend as its superuser and creates the table if this backend has none yet. */
  static async open(backendPort: number): Promise<IamRoleMappings> {
    const db = new Client({ host: '127.0.0.1', port: backendPort, user: 'postgres', database: 'postgres' });
    db.on('error', () => undefined); // the backend stopping first must not crash the test process
    await db.connect();
    try {
      await db.query(SETUP);
    } catch (err) {
      // Another endpoint on the same backend created it at the same moment: the table exists, which is all we need.
      if ((err as { code?: string }).code !== '23505' && (err as { code?: string }).code !== '42P07') throw err;
    }
    return new IamRoleMappings(db);
  }

  private constructor(private readonly db: Client) {}

  async isGranted(role: string, arn: string): Promise<boolean> {
    const out = await this.db.query('SELECT 1 FROM sys.iam_pg_role_mappings WHERE pg_role_name = $1 AND arn = $2', [role, arn]);
    return out.rowCount !== 0;
  }

  /** Runs an intercepted statement for a session logged in as `sessionUser`; throws SqlError as DSQL would answer. */
  async run(statement: AwsIamStatement, sessionUser: string): Promise<string> {
    if ('error' in statement) throw new SqlError('42601', statement.error);
    if (sessionUser !== 'admin') throw new SqlError('42501', `permission denied: only admin can run AWS IAM ${statement.action}`);
    const role = await this.db.query('SELECT oid FROM pg_roles WHERE rolname = $1', [statement.role]);
    if (role.rowCount === 0) throw new SqlError('42704', `role "${statement.role}" does not exist`);
    if (!/^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[A-Za-z0-9+=,.@_/-]+$/.test(statement.arn)) {
      throw new SqlError('22023', `invalid IAM ARN '${statement.arn}': expected an IAM role or user ARN`);
    }
    if (statement.action === 'GRANT') {
      const out = await this.db.query(
        `INSERT INTO sys.iam_pg_role_mappings (arn, pg_role_oid, pg_role_name, grantor_pg_role_oid, grantor_pg_role_name)
         SELECT $1, $2, $3, oid, rolname FROM pg_roles WHERE rolname = 'admin' ON CONFLICT DO NOTHING`,
        [statement.arn, role.rows[0].oid, statement.role],
      );
      if (out.rowCount === 0) throw new SqlError('42710', `role "${statement.role}" is already granted to '${statement.arn}'`);
    } else {
      const out = await this.db.query('DELETE FROM sys.iam_pg_role_mappings WHERE pg_role_name = $1 AND arn = $2', [
        statement.role,
        statement.arn,
      ]);
      if (out.rowCount === 0) throw new SqlError('42704', `role "${statement.role}" is not granted to '${statement.arn}'`);
    }
    return `AWS IAM ${statement.action}`;
  }

  /** Every pair, sorted (for assertions). */
  async list(): Promise<Array<{ role: string; arn: string }>> {
    const out = await this.db.query('SELECT pg_role_name AS role, arn FROM sys.iam_pg_role_mappings ORDER BY 1, 2');
    return out.rows as Array<{ role: string; arn: string }>;
  }

  async close(): Promise<void> {
    await this.db.end().catch(() => undefined);
  }
}
