import { Construct } from 'constructs';
import { SignerKind } from './contract';
import {
  bindManagedAccessKey,
  bindRoleSigner,
  TokenSignerBinder,
  TokenSignerBindOptions,
  TokenSignerBinding,
} from './token-signer-binding';

/**
 * Who signs the DSQL tokens. A token dies when the credentials that signed it
 * expire, whatever lifetime it was requested for, so this choice bounds how
 * long a token really lives. The default is `managedAccessKey()`.
 */
export class TokenSigner {
  /**
   * The rotation function's own execution role: no IAM user, no long-term
   * key anywhere, for accounts where an organisation policy (SCP) forbids
   * IAM users or access keys.
   *
   * Lambda ends its role session at a time it does not tell (seen from about
   * 1 to 12 hours), and tokens it signed die then, before `tokenLifetime`:
   * tasks holding one cannot connect until the watchdog notices and a
   * rollout replaces them. Synth warns (`cdk-dsql-url-secret:role-signer`)
   * with the dead task-minutes per week the package's simulation measures;
   * acknowledge it once this is a deliberate choice.
   */
  public static rotationFunctionRole(): TokenSigner {
    return new TokenSigner(SignerKind.ROLE, bindRoleSigner, false);
  }

  /**
   * A dedicated IAM user whose only permission, through an IAM group, is to
   * connect to this cluster; it has no console password. The rotation
   * function creates a new access key for it at each rotation and deletes
   * the key two generations old, so tokens held by tasks not yet replaced
   * keep working: never within 2 x rolloutAllowance + watchdogInterval of the
   * last promotion (a rollout and the heal of a stuck one), nor while a
   * running task of a bound service holds a token it signed; until then the
   * current key signs again and lives on. The key material lives in a
   * separate secret that only the rotation function can read. Tokens live
   * their full `tokenLifetime`, up to one week.
   *
   * This is the default. Where an SCP forbids creating IAM users, the deploy
   * fails at the user (CloudFormation's own access-denied message); where it
   * forbids access keys, the first rotation fails naming
   * `TokenSigner.rotationFunctionRole()` as the alternative.
   */
  public static managedAccessKey(): TokenSigner {
    return new TokenSigner(SignerKind.ACCESS_KEY, bindManagedAccessKey, true);
  }

  /**
   * @param kind `role` or `access-key`
   */
  private constructor(
    public readonly kind: string,
    private readonly binder: TokenSignerBinder,
    callsIam: boolean,
  ) {
    this._callsIam = callsIam;
  }

  /**
   * Whether the rotation function calls IAM for this signer (a network path the
   * function needs in a VPC).
   * @internal
   */
  public readonly _callsIam: boolean;

  /**
   * Creates and grants what this signer needs in `scope` (a DsqlUrlSecret),
   * in the spirit of HostedRotation.bind().
   * @internal
   */
  public _bind(scope: Construct, options: TokenSignerBindOptions): TokenSignerBinding {
    return this.binder(scope, options);
  }
}
