/**
 * What the role bootstrap runs as admin, in order, each step checked before it
 * acts so that a re-run changes nothing: create the role if pg_roles lacks it,
 * map it to the signer if sys.iam_pg_role_mappings lacks that pair, then run
 * the SQL grants (GRANT is idempotent in PostgreSQL). Nothing is revoked or
 * dropped, ever.
 *
 * Every statement is a simple query built here from values checked here:
 * DSQL's `AWS IAM GRANT` takes no bind parameters.
 */
import { ADMIN_ROLE_NAME, RoleBootstrapFunctionConfig } from '../lib/contract';
import { grantStatement, IDENTIFIER, parseRoleGrant, quoteIdentifier, RoleGrant } from '../lib/role-grants';

/** The part of a pg Client the bootstrap uses. */
export interface SqlSession {
  query(text: string): Promise<{ rows: Array<Record<string, unknown>> }>;
}

/** IAM role and user ARNs, the identities DSQL maps roles to (path characters as IAM allows them). */
const SIGNER_ARN = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[A-Za-z0-9+=,.@_/-]{1,512}$/;

/** What the bootstrap found and did. */
export interface BootstrapOutcome {
  readonly roleCreated: boolean;
  readonly grantedToSigner: boolean;
  readonly sqlGrants: number;
}

/** The configuration's role, signer and grants, checked: anything else would be built into SQL. */
export interface CheckedBootstrap {
  readonly roleName: string;
  readonly signerArn: string;
  readonly grants: readonly RoleGrant[];
}

export function checkBootstrapInput(config: Pick<RoleBootstrapFunctionConfig, 'roleName' | 'signerArn' | 'grants'>): CheckedBootstrap {
  if (config.roleName === ADMIN_ROLE_NAME || !IDENTIFIER.test(config.roleName)) {
    throw new Error(`The role name '${config.roleName}' is not a custom role (1-63 lower-case letters, digits, _ or $, not admin)`);
  }
  if (!SIGNER_ARN.test(config.signerArn)) {
    throw new Error(`The signer '${config.signerArn}' is not an IAM role or user ARN: DSQL maps database roles to those only`);
  }
  const grants = config.grants.map((text, i) => {
    const parsed = parseRoleGrant(text);
    if (typeof parsed === 'string') throw new Error(`SQL grant ${i + 1} '${text}' is refused: ${parsed}`);
    return parsed;
  });
  return { roleName: config.roleName, signerArn: config.signerArn, grants };
}

/** A SQL string literal; the inputs are already checked to hold no quote, doubled anyway. */
const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** The line an admin runs to map `roleName` to `signerArn` (also what the error messages quote). */
export function iamGrantStatement(roleName: string, signerArn: string): string {
  return `AWS IAM GRANT ${roleName} TO ${literal(signerArn)}`;
}

/** Runs the three steps; throws naming the step that failed and the database's message. */
export async function bootstrapRole(db: SqlSession, input: CheckedBootstrap): Promise<BootstrapOutcome> {
  const { roleName, signerArn } = input;
  const run = async (step: string, sql: string, fix = '') => {
    try {
      return await db.query(sql);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const message = `${step} failed (${e.code ?? 'error'}: ${e.message ?? String(err)})${fix}`;
      throw Object.assign(new Error(message), { code: e.code });
    }
  };

  let roleCreated = false;
  const role = await run(`Looking up role ${roleName} in pg_roles`, `SELECT 1 FROM pg_roles WHERE rolname = ${literal(roleName)}`);
  if (role.rows.length === 0) {
    try {
      await run(`CREATE ROLE ${roleName}`, `CREATE ROLE ${quoteIdentifier(roleName)} WITH LOGIN`);
      roleCreated = true;
    } catch (err) {
      // 42710 duplicate_object: created meanwhile (a concurrent run, or an admin): that is what we wanted.
      if ((err as { code?: string }).code !== '42710') throw err;
    }
  }

  let grantedToSigner = false;
  const mapped = await run(
    `Looking up the mapping of ${roleName} to the signer in sys.iam_pg_role_mappings`,
    `SELECT 1 FROM sys.iam_pg_role_mappings WHERE pg_role_name = ${literal(roleName)} AND arn = ${literal(signerArn)}`,
  );
  if (mapped.rows.length === 0) {
    await run(iamGrantStatement(roleName, signerArn), iamGrantStatement(roleName, signerArn));
    grantedToSigner = true;
  }

  for (const [i, grant] of input.grants.entries()) {
    const sql = grantStatement(grant, roleName);
    await run(
      `SQL grant ${i + 1} (${sql})`,
      sql,
      ': the objects a grant names must exist when the stack deploys; otherwise remove the grant from DatabaseRole.custom() ' +
        'and run it as admin once they do',
    );
  }
  return { roleCreated, grantedToSigner, sqlGrants: input.grants.length };
}
