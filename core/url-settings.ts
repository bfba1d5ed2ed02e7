/**
 * The settings that shape the connection URL, and whether a stored value
 * carries them. One definition for the three places that must agree: the
 * rotation function builds the URL from them (functions/token.ts), the
 * deferral refuses to keep a URL that does not carry them
 * (functions/defer-rotation.ts), and the first-rotation custom resource waits
 * for an AWSCURRENT that does after a configuration change
 * (functions/initial-rotation.ts). Pure: no AWS call.
 */
import { DsqlUrlSecretValue } from '../lib/contract';

/** What the URL is made of, besides the token (a subset of RotationFunctionConfig). */
export interface UrlSettings {
  /** Endpoint host name; it names the cluster and the region. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** Database role. */
  readonly username: string;
  /** URL query string without the leading `?` ('' for none). */
  readonly urlQuery: string;
}

/** The connection URL for `token` under `settings`: the one format every stored URL has. */
export function connectionUrl(settings: UrlSettings, token: string): string {
  const suffix = settings.urlQuery === '' ? '' : `?${settings.urlQuery}`;
  // libpq and Prisma need the token percent-encoded: it contains / ? & = %.
  return (
    `postgres://${encodeURIComponent(settings.username)}:${encodeURIComponent(token)}` +
    `@${settings.host}:${settings.port}/${encodeURIComponent(settings.database)}${suffix}`
  );
}

/**
 * The first difference between `value` and `settings`, by field name only
 * (never a value: the URL holds the token); undefined when `value` holds a
 * token and its URL and fields are exactly what `settings` make. The URL is
 * rebuilt from the settings and the value's own token and compared whole, so
 * a change of any URL parameter is seen, as is a hand-edited value whose
 * parts disagree.
 */
export function settingsMismatch(value: Partial<DsqlUrlSecretValue> | undefined, settings: UrlSettings): string | undefined {
  if (value === undefined) return 'no readable value';
  if (typeof value.url !== 'string' || value.url === '') return 'no token yet (empty url)';
  if (value.host !== settings.host) return 'host';
  if (Number(value.port) !== settings.port) return 'port';
  if (value.username !== settings.username) return 'username (database role)';
  if (value.dbname !== settings.database) return 'dbname (database)';
  if (typeof value.password !== 'string' || value.url !== connectionUrl(settings, value.password)) return 'url (e.g. its query parameters)';
  return undefined;
}

/** Whether `value` holds a token and carries `settings` (see settingsMismatch). */
export function valueMatchesSettings(value: Partial<DsqlUrlSecretValue> | undefined, settings: UrlSettings): boolean {
  return settingsMismatch(value, settings) === undefined;
}
