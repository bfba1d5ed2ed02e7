import { DsqlSigner } from '@aws-sdk/dsql-signer';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { connectionUrl } from '../core/url-settings';
import { ADMIN_ROLE_NAME, DsqlUrlSecretValue } from '../lib/contract';
import { HandlerConfig } from './config';

/** Credentials a token is signed with. Long-term access keys have no session token and no expiration. */
export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/**
 * Signs a DSQL token and returns the full secret value. Signing is local: no
 * call to AWS. Without `signingCredentials`, the function's own credentials
 * (the default provider chain) sign.
 *
 * `expiresAt` is the earlier of the requested lifetime and the expiry of the
 * credentials that signed it, because a token dies with its signing
 * credentials. When the credentials report no expiry (Lambda's environment
 * credentials do not; an IAM user's access key has none), the requested
 * lifetime is the upper bound.
 */
export async function mintSecretValue(
  config: HandlerConfig,
  now: Date = new Date(),
  signingCredentials?: SigningCredentials,
): Promise<DsqlUrlSecretValue> {
  const credentials = signingCredentials ?? (await defaultProvider()());
  const signer = new DsqlSigner({
    hostname: config.host,
    region: config.region,
    expiresIn: config.tokenLifetimeSeconds,
    credentials,
  });
  const token = config.username === ADMIN_ROLE_NAME ? await signer.getDbConnectAdminAuthToken() : await signer.getDbConnectAuthToken();

  let expiresAtMs = now.getTime() + config.tokenLifetimeSeconds * 1000;
  if (credentials.expiration && credentials.expiration.getTime() < expiresAtMs) {
    expiresAtMs = credentials.expiration.getTime();
  }
  return buildSecretValue(config, token, now, new Date(expiresAtMs));
}

export function buildSecretValue(config: HandlerConfig, token: string, issuedAt: Date, expiresAt: Date): DsqlUrlSecretValue {
  const query = new URLSearchParams(config.urlQuery);
  return {
    url: connectionUrl(config, token),
    host: config.host,
    port: config.port,
    username: config.username,
    password: token,
    dbname: config.database,
    sslmode: query.get('sslmode') ?? 'require',
    issuedAt: issuedAt.toISOString(),
    expiresAt: expiresAt.toISOString(),
  };
}
