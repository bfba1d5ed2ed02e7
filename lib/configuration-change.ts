/**
 * How a configuration change on a live stack reaches the secret without ever
 * exposing an empty or stale URL, shared by the construct and the
 * first-rotation function (which imports it with esbuild):
 *
 * - The secret's template value is PLACEHOLDER_SECRET_VALUE, the same for
 *   every configuration: CloudFormation writes a new AWSCURRENT whenever the
 *   template value changes, so a value that depended on a prop would replace
 *   the live URL with an empty one on the next deploy that changed it.
 * - Everything that shapes the URL is a property of the first-rotation
 *   custom resource (InitialRotationProperties): CloudFormation compares the
 *   resolved values and sends it an Update when one changes, which rotates
 *   with the new settings before any bound service updates.
 *
 * Not exported from the package entry point: it is an internal detail.
 */

/** The secret's value before the first rotation: the JSON fields of DsqlUrlSecretValue, all empty (no token exists yet). */
export const PLACEHOLDER_SECRET_VALUE: Readonly<Record<string, string>> = Object.freeze({
  url: '',
  host: '',
  port: '',
  username: '',
  password: '',
  dbname: '',
  sslmode: '',
  issuedAt: '',
  expiresAt: '',
});

/**
 * The URL settings as custom resource properties. CloudFormation passes every
 * property value to the function as a string, so the port is one too.
 */
export interface UrlSettingsProperties {
  readonly Host: string;
  readonly Port: string;
  readonly Database: string;
  readonly Username: string;
  /** URL query string without the leading `?` ('' for none). */
  readonly UrlQuery: string;
}

/** The first-rotation custom resource's properties besides ServiceToken (lib/initial-rotation.ts writes them). */
export interface InitialRotationProperties {
  readonly SecretArn: string;
  /** What the URL must carry: after a change, Update rotates and waits for an AWSCURRENT that carries it. */
  readonly UrlSettings: UrlSettingsProperties;
  /**
   * The IAM identity that signs: not in the URL, but a token signed by a
   * former signer may lose its permission with the change, so a change
   * rotates too.
   */
  readonly SignerArn: string;
}
