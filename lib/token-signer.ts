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
 * long a token really lives.
 */
export class TokenSigner {
  /**
   * The rotation function's own execution role (the default).
   *
   * Simple, no long-term secret anywhere. But Lambda does not say how long
   * its session credentials live, so a token may die before `tokenLifetime`:
   * keep the lifetime short (hours) and rely on the watchdog, which rotates
   * as soon as the current token stops authenticating.
   */
  public static rotationFunctionRole(): TokenSigner {
    return new TokenSigner(SignerKind.ROLE, bindRoleSigner, false);
  }

  /**
   * A dedicated IAM user whose only permission is to connect to this
   * cluster. The rotation function creates a new access key for it at each
   * rotation and deletes the key two generations old, so tokens held by tasks
   * not yet replaced keep working. The key material lives in a separate
   * secret that only the rotation function can read. Tokens live their full
   * `tokenLifetime`, up to one week.
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
