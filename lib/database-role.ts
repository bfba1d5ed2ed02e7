import { Token } from 'aws-cdk-lib';
import { ADMIN_ROLE_NAME } from './contract';

// Unquoted PostgreSQL identifiers: lower case, at most 63 bytes.
const ROLE_NAME = /^[a-z_][a-z0-9_$]{0,62}$/;

/**
 * The database role the URL logs in as.
 *
 * The admin role signs with `dsql:DbConnectAdmin`; a custom role signs with
 * `dsql:DbConnect` and must first be created and granted to the signing IAM
 * identity by an admin:
 * `CREATE ROLE app_rw WITH LOGIN; AWS IAM GRANT app_rw TO '<signerArn>';`
 *
 * @see https://docs.aws.amazon.com/aurora-dsql/latest/userguide/using-database-and-iam-roles.html
 */
export class DatabaseRole {
  /** DSQL's built-in `admin` role. */
  public static readonly ADMIN = new DatabaseRole(ADMIN_ROLE_NAME);

  /**
   * A custom database role, created with `CREATE ROLE <name> WITH LOGIN`.
   * @param name lower-case PostgreSQL identifier, not `admin`.
   */
  public static custom(name: string): DatabaseRole {
    if (!Token.isUnresolved(name)) {
      if (name === ADMIN_ROLE_NAME) {
        throw new Error("DatabaseRole.custom('admin') is not a custom role: use DatabaseRole.ADMIN");
      }
      if (!ROLE_NAME.test(name)) {
        throw new Error(
          `DatabaseRole.custom: '${name}' is not a valid role name: use 1-63 lower-case letters, digits, _ or $, starting with a letter or _`,
        );
      }
    }
    return new DatabaseRole(name);
  }

  /**
   * @param name the role name
   */
  private constructor(public readonly name: string) {}

  /** Whether this is the admin role (tokens signed with `DbConnectAdmin`). */
  public get isAdmin(): boolean {
    return this.name === ADMIN_ROLE_NAME;
  }

  /** The IAM action that lets an identity sign tokens for this role. */
  public get iamAction(): string {
    return this.isAdmin ? 'dsql:DbConnectAdmin' : 'dsql:DbConnect';
  }
}
