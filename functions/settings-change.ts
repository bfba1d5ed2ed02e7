/**
 * What a Create or Update of the first-rotation custom resource asks for,
 * read from its properties (lib/configuration-change.ts): the URL settings
 * AWSCURRENT must carry, and whether a value that already carries them must
 * be replaced anyway (the signer changed, which the value does not show).
 */
import { UrlSettings } from '../core/url-settings';
import { InitialRotationProperties, UrlSettingsProperties } from '../lib/configuration-change';
import { CustomResourceEvent } from './cfn-response';

export interface RotationRequest {
  /** What AWSCURRENT must carry once the request succeeds. */
  readonly settings: UrlSettings;
  /**
   * Rotate even if AWSCURRENT carries the settings. Only for a change of
   * signer: a token signed by the former one may lose its permission with
   * the change. Every other change shows in the value, so a rollback (an
   * Update back to settings AWSCURRENT still carries) rotates nothing.
   */
  readonly rotateAnyway: boolean;
}

const DEPLOYED_BY = 'the custom resource must be deployed by the DsqlUrlSecret construct';

/** Throws, naming the property (never a value), when the properties are not what the construct writes. */
export function rotationRequestOf(event: CustomResourceEvent): RotationRequest {
  const props = (event.ResourceProperties ?? {}) as Partial<InitialRotationProperties>;
  const settings = urlSettingsOf(props.UrlSettings);
  if (typeof props.SignerArn !== 'string' || props.SignerArn === '') throw new Error(`Property SignerArn is missing: ${DEPLOYED_BY}`);
  const old = event.RequestType === 'Update' ? (event.OldResourceProperties as Partial<InitialRotationProperties> | undefined) : undefined;
  // An old template without SignerArn (before this property existed) is an upgrade: its value is rewritten anyway.
  const rotateAnyway = typeof old?.SignerArn === 'string' && old.SignerArn !== props.SignerArn;
  return { settings, rotateAnyway };
}

function urlSettingsOf(raw: Partial<UrlSettingsProperties> | undefined): UrlSettings {
  if (typeof raw !== 'object' || raw === null) throw new Error(`Property UrlSettings is missing: ${DEPLOYED_BY}`);
  const text = (name: keyof UrlSettingsProperties, allowEmpty = false): string => {
    const value = raw[name];
    if (typeof value !== 'string' || (value === '' && !allowEmpty)) {
      throw new Error(`Property UrlSettings.${name} must be a ${allowEmpty ? '' : 'non-empty '}string: ${DEPLOYED_BY}`);
    }
    return value;
  };
  // CloudFormation passes every property value as a string.
  const port = Number(text('Port'));
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`Property UrlSettings.Port must be a port number: ${DEPLOYED_BY}`);
  return { host: text('Host'), port, database: text('Database'), username: text('Username'), urlQuery: text('UrlQuery', true) };
}
