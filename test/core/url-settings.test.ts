import { connectionUrl, settingsMismatch, UrlSettings, valueMatchesSettings } from '../../core/url-settings';
import { DsqlUrlSecretValue } from '../../lib/contract';

const SETTINGS: UrlSettings = {
  host: 'abc123.dsql.us-east-1.on.aws',
  port: 5432,
  database: 'postgres',
  username: 'admin',
  urlQuery: 'sslmode=require',
};
// Shaped like a token: it holds the characters a URL must encode.
const TOKEN = 'abc123.dsql.us-east-1.on.aws/?Action=DbConnectAdmin&X-Amz-Signature=ab%2Fcd=';

function valueFor(settings: UrlSettings): DsqlUrlSecretValue {
  return {
    url: connectionUrl(settings, TOKEN),
    host: settings.host,
    port: settings.port,
    username: settings.username,
    password: TOKEN,
    dbname: settings.database,
    sslmode: 'require',
    issuedAt: '2030-01-01T00:00:00.000Z',
    expiresAt: '2030-01-01T08:00:00.000Z',
  };
}

test('the URL percent-encodes the token and carries every setting', () => {
  expect(connectionUrl(SETTINGS, TOKEN)).toBe(
    `postgres://admin:${encodeURIComponent(TOKEN)}@abc123.dsql.us-east-1.on.aws:5432/postgres?sslmode=require`,
  );
  expect(connectionUrl({ ...SETTINGS, urlQuery: '' }, TOKEN)).toMatch(/:5432\/postgres$/);
});

test('a value made under the settings matches them (the port may be stored as a string)', () => {
  expect(valueMatchesSettings(valueFor(SETTINGS), SETTINGS)).toBe(true);
  expect(valueMatchesSettings({ ...valueFor(SETTINGS), port: '5432' as unknown as number }, SETTINGS)).toBe(true);
});

test.each([
  ['host', { host: 'def456.dsql.us-east-1.on.aws' }, 'host'],
  ['region (in the host)', { host: 'abc123.dsql.eu-west-1.on.aws' }, 'host'],
  ['port', { port: 5433 }, 'port'],
  ['database', { database: 'orders' }, 'dbname (database)'],
  ['role', { username: 'app_rw' }, 'username (database role)'],
  ['URL parameters', { urlQuery: 'sslmode=require&application_name=api' }, 'url (e.g. its query parameters)'],
  ['no URL parameters', { urlQuery: '' }, 'url (e.g. its query parameters)'],
])('a change of %s is a mismatch, named by field', (_what, change, field) => {
  const changed = { ...SETTINGS, ...change };
  expect(valueMatchesSettings(valueFor(SETTINGS), changed)).toBe(false);
  expect(settingsMismatch(valueFor(SETTINGS), changed)).toBe(field);
  expect(valueMatchesSettings(valueFor(changed), changed)).toBe(true);
});

test('the placeholder, an unreadable value and a hand-edited URL never match', () => {
  expect(settingsMismatch({ ...valueFor(SETTINGS), url: '', password: '' }, SETTINGS)).toBe('no token yet (empty url)');
  expect(settingsMismatch(undefined, SETTINGS)).toBe('no readable value');
  // The fields say postgres, the URL says another database.
  const edited = { ...valueFor(SETTINGS), url: connectionUrl({ ...SETTINGS, database: 'orders' }, TOKEN) };
  expect(settingsMismatch(edited, SETTINGS)).toBe('url (e.g. its query parameters)');
});

test('a mismatch never quotes the token or the URL', () => {
  const changed = { ...SETTINGS, urlQuery: 'sslmode=verify-full' };
  expect(settingsMismatch(valueFor(SETTINGS), changed)).not.toContain(TOKEN.slice(0, 20));
});
