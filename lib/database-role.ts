import { Token } from 'aws-cdk-lib/core';
import { ADMIN_ROLE_NAME } from './contract';
import { formatRoleGrant, GRANT_FORM, IDENTIFIER, parseRoleGrant } from './role-grants';

/** Options of a custom database role. */
export interface CustomDatabaseRoleOptions {
  /**
   * Whether the construct creates the role and grants it to the signer
   * during deployment, before the first rotation: a function that may connect
   * as admin to this cluster only (`dsql:DbConnectAdmin`) runs
   * `CREATE ROLE <name> WITH LOGIN` if the role is missing and
   * `AWS IAM GRANT <name> TO '<signerArn>'` if that mapping is missing. It
   * revokes and drops nothing, ever.
   *
   * `false` for teams that manage roles themselves: no function gets admin
   * access, the signer's ARN is a stack output, and the first rotation fails
   * within about a minute with the exact `AWS IAM GRANT` line to run.
   * @default true
   */
  readonly bootstrap?: boolean;

  /**
   * SQL privileges the bootstrap grants to the role after creating it, each
   * written as `<privileges> ON <object>`, e.g. `'USAGE ON SCHEMA app'` or
   * `'SELECT, INSERT ON ALL TABLES IN SCHEMA app'`. The function runs
   * `GRANT <privileges> ON <object> TO <role>` itself. Checked at synth:
   * only privilege lists on SCHEMA, ALL TABLES IN SCHEMA, ALL SEQUENCES IN
   * SCHEMA, TABLE, SEQUENCE or DATABASE with lower-case unquoted names; no
   * semicolons, quotes or comments. The objects must exist when the stack
   * deploys (the bootstrap fails with the database's message otherwise).
   * @default - no grants
   */
  readonly grants?: string[];
}

/**
 * The database role the URL logs in as.
 *
 * The admin role signs with `dsql:DbConnectAdmin`; a custom role signs with
 * `dsql:DbConnect` and must exist and be granted to the signing IAM identity
 * (`CREATE ROLE app_rw WITH LOGIN; AWS IAM GRANT app_rw TO '<signerArn>';`),
 * which the construct does during deployment unless `bootstrap: false`.
 *
 * @see https://docs.aws.amazon.com/aurora-dsql/latest/userguide/using-database-and-iam-roles.html
 */
export class DatabaseRole {
  /** DSQL's built-in `admin` role. */
  public static readonly ADMIN = new DatabaseRole(ADMIN_ROLE_NAME, false, []);

  /**
   * A custom database role, created with `CREATE ROLE <name> WITH LOGIN`.
   * @param name lower-case PostgreSQL identifier, not `admin`.
   * @param options whether the construct bootstraps the role, and its SQL grants
   */
  public static custom(name: string, options: CustomDatabaseRoleOptions = {}): DatabaseRole {
    // A name known only at deploy time is checked by the bootstrap function instead.
    if (!Token.isUnresolved(name)) {
      if (name === ADMIN_ROLE_NAME) {
        throw new Error("DatabaseRole.custom('admin') is not a custom role: use DatabaseRole.ADMIN");
      }
      if (!IDENTIFIER.test(name)) {
        throw new Error(
          `DatabaseRole.custom: '${name}' is not a valid role name: use 1-63 lower-case letters, digits, _ or $, starting with a letter or _`,
        );
      }
    }
    const bootstrap = options.bootstrap ?? true;
    const grants = (options.grants ?? []).map((grant, i) => {
      const where = `DatabaseRole.custom('${name}', { grants }): grant ${i + 1}`;
      if (typeof grant !== 'string' || Token.isUnresolved(grant)) {
        throw new Error(`${where} must be a literal string known at synth, written as ${GRANT_FORM}`);
      }
      const parsed = parseRoleGrant(grant);
      if (typeof parsed === 'string') throw new Error(`${where} '${grant}' is refused: ${parsed}. Write it as ${GRANT_FORM}`);
      return formatRoleGrant(parsed);
    });
    if (!bootstrap && grants.length > 0) {
      throw new Error(
        `DatabaseRole.custom('${name}', { bootstrap: false, grants }): grants are run by the bootstrap: remove bootstrap: false, ` +
          'or remove grants and run the GRANT statements yourself as admin',
      );
    }
    return new DatabaseRole(name, bootstrap, grants);
  }

  /**
   * @param name the role name
   * @param bootstrap whether the construct creates and grants the role during deployment
   * @param grants the SQL grants in normal form
   */
  private constructor(
    public readonly name: string,
    public readonly bootstrap: boolean,
    public readonly grants: string[],
  ) {}

  /** Whether this is the admin role (tokens signed with `DbConnectAdmin`). */
  public get isAdmin(): boolean {
    return this.name === ADMIN_ROLE_NAME;
  }

  /** The IAM action that lets an identity sign tokens for this role. */
  public get iamAction(): string {
    return this.isAdmin ? 'dsql:DbConnectAdmin' : 'dsql:DbConnect';
  }
}
