/** The first-rotation custom resource's properties as the construct writes them (lib/configuration-change.ts). */
import { InitialRotationProperties, UrlSettingsProperties } from '../../lib/configuration-change';
import { SECRET_ARN } from './fixtures';
import { config } from './fixtures-config';

/** The rotation function's role, which signs by default. */
export const SIGNER_ARN = 'arn:aws:iam::123456789012:role/app-DbUrlRotationFunctionServiceRole-AbC123';

/** UrlSettings for fixtures-config's rotation config (what valueSignedWith's values carry), with `overrides`. */
export function urlSettingsProperties(overrides: Partial<UrlSettingsProperties> = {}): UrlSettingsProperties {
  const c = config();
  return { Host: c.host, Port: String(c.port), Database: c.database, Username: c.username, UrlQuery: c.urlQuery, ...overrides };
}

/** Every property but ServiceToken, as CloudFormation passes them (all strings). */
export function customResourceProperties(
  overrides: { UrlSettings?: Partial<UrlSettingsProperties>; SignerArn?: string } = {},
): InitialRotationProperties & Record<string, unknown> {
  return { SecretArn: SECRET_ARN, UrlSettings: urlSettingsProperties(overrides.UrlSettings), SignerArn: overrides.SignerArn ?? SIGNER_ARN };
}
