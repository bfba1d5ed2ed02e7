import { parse as parseConnectionString } from 'pg-connection-string';
import { buildSecretValue, mintSecretValue } from '../../functions/token';
import { FAKE_CREDENTIALS, HOST, REGION } from './fixtures';
import { config, handlerEnv, setEnv } from './fixtures-config';
import { presignedTokenIsValid, tokenParams } from './fixtures-tokens';

/** A token-shaped string with every character that must be percent-encoded in a URL. */
const TOKEN = `${HOST}/?Action=DbConnectAdmin&X-Amz-Credential=AKID%2F20300101%2Fus-east-1%2Fdsql%2Faws4_request&X-Amz-Signature=ab+cd/ef==`;
const ISSUED = new Date('2030-01-01T00:00:00.000Z');

describe('buildSecretValue', () => {
  test('fills every field; the URL carries the token percent-encoded, `password` carries it raw', () => {
    const value = buildSecretValue(config(), TOKEN, ISSUED, new Date('2030-01-01T12:00:00.000Z'));

    expect(value).toEqual({
      url: `postgres://admin:${encodeURIComponent(TOKEN)}@${HOST}:5432/postgres?sslmode=require`,
      host: HOST,
      port: 5432,
      username: 'admin',
      password: TOKEN,
      dbname: 'postgres',
      sslmode: 'require',
      issuedAt: '2030-01-01T00:00:00.000Z',
      expiresAt: '2030-01-01T12:00:00.000Z',
    });
  });

  test('the URL parses back to the raw token with WHATWG URL and with pg-connection-string', () => {
    const { url } = buildSecretValue(
      config({ username: 'app_user', database: 'my db', urlQuery: 'sslmode=verify-full' }),
      TOKEN,
      ISSUED,
      ISSUED,
    );

    const u = new URL(url);
    expect(decodeURIComponent(u.password)).toBe(TOKEN);
    expect(u.hostname).toBe(HOST);
    const pg = parseConnectionString(url);
    expect(pg).toMatchObject({ user: 'app_user', password: TOKEN, host: HOST, port: '5432', database: 'my db' });
  });

  test('the query string is the configured one; sslmode is taken from it', () => {
    const value = buildSecretValue(config({ urlQuery: 'sslmode=verify-full&uselibpqcompat=true' }), TOKEN, ISSUED, ISSUED);

    expect(value.url.endsWith('/postgres?sslmode=verify-full&uselibpqcompat=true')).toBe(true);
    expect(value.sslmode).toBe('verify-full');
  });

  test('an empty query string gives a URL without `?`', () => {
    const value = buildSecretValue(config({ urlQuery: '' }), TOKEN, ISSUED, ISSUED);

    expect(value.url).toBe(`postgres://admin:${encodeURIComponent(TOKEN)}@${HOST}:5432/postgres`);
  });
});

describe('mintSecretValue', () => {
  let restoreEnv: () => void;
  beforeEach(() => {
    restoreEnv = setEnv(handlerEnv());
  });
  afterEach(() => restoreEnv());

  test('signs an admin token (DbConnectAdmin) for the host and region with the function credentials', async () => {
    const value = await mintSecretValue(config({ tokenLifetimeSeconds: 3600 }));

    const token = value.password;
    expect(token.startsWith(`${HOST}/?`)).toBe(true);
    const q = tokenParams(token);
    expect(q.get('Action')).toBe('DbConnectAdmin');
    expect(q.get('X-Amz-Expires')).toBe('3600');
    expect(q.get('X-Amz-Credential')).toMatch(new RegExp(`^${FAKE_CREDENTIALS.accessKeyId}/\\d{8}/${REGION}/dsql/aws4_request$`));
    expect(q.get('X-Amz-Security-Token')).toBe(FAKE_CREDENTIALS.sessionToken);
    expect(q.get('X-Amz-SignedHeaders')).toBe('host');
    expect(presignedTokenIsValid(token, FAKE_CREDENTIALS, REGION)).toBe(true);
    // The verifier can say no.
    expect(presignedTokenIsValid(token, { secretAccessKey: 'another-secret' }, REGION)).toBe(false);
    expect(value.url).toContain(`:${encodeURIComponent(token)}@`);
  });

  test('a custom database role gets a DbConnect token', async () => {
    const value = await mintSecretValue(config({ username: 'app_user' }));

    expect(tokenParams(value.password).get('Action')).toBe('DbConnect');
    expect(value.username).toBe('app_user');
    expect(value.url.startsWith('postgres://app_user:')).toBe(true);
  });

  test('without a credential expiry, expiresAt = issuedAt + the requested lifetime', async () => {
    const now = new Date();

    const value = await mintSecretValue(config({ tokenLifetimeSeconds: 43200 }), now);

    expect(value.issuedAt).toBe(now.toISOString());
    expect(Date.parse(value.expiresAt) - Date.parse(value.issuedAt)).toBe(43200 * 1000);
    // The signature's own date is the signing moment.
    const amzDate = tokenParams(value.password).get('X-Amz-Date')!;
    const signedAt = Date.parse(amzDate.replace(/(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/, '$1-$2-$3T$4:$5:$6Z'));
    expect(Math.abs(signedAt - now.getTime())).toBeLessThan(5000);
  });

  test('credentials that expire before the lifetime cap expiresAt at their expiry (a token dies with its signer)', async () => {
    // GIVEN session credentials (as the SDK reads them from the environment) that expire in one hour
    const now = new Date();
    const credentialExpiry = new Date(now.getTime() + 3600_000);
    restoreEnv();
    restoreEnv = setEnv(handlerEnv({}, { AWS_CREDENTIAL_EXPIRATION: credentialExpiry.toISOString() }));

    // WHEN a 12-hour token is minted
    const value = await mintSecretValue(config({ tokenLifetimeSeconds: 43200 }), now);

    // THEN it is only promised for the hour the credentials live
    expect(value.expiresAt).toBe(credentialExpiry.toISOString());
    expect(tokenParams(value.password).get('X-Amz-Expires')).toBe('43200');
  });

  test('credentials that outlive the lifetime do not extend expiresAt', async () => {
    const now = new Date();
    restoreEnv();
    restoreEnv = setEnv(handlerEnv({}, { AWS_CREDENTIAL_EXPIRATION: new Date(now.getTime() + 48 * 3600_000).toISOString() }));

    const value = await mintSecretValue(config({ tokenLifetimeSeconds: 900 }), now);

    expect(Date.parse(value.expiresAt)).toBe(now.getTime() + 900_000);
  });
});
