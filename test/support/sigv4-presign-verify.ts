import * as crypto from 'crypto';

/**
 * Server-side check of an Aurora DSQL IAM auth token, done the way AWS does it.
 *
 * A token is a SigV4 *presigned* `GET https://<host>/?Action=DbConnect[Admin]&X-Amz-…` for service
 * `dsql`, with the `https://` stripped (that is what `@aws-sdk/dsql-signer` returns). Verifying it means
 * recomputing the signature from the query string and the signer's secret key.
 *
 * Payload hash: both `@aws-sdk/dsql-signer` (via @smithy/signature-v4, request without a body) and
 * botocore's `generate_db_connect_auth_token` sign with the SHA-256 of the EMPTY body, not the
 * `UNSIGNED-PAYLOAD` constant S3 presigned URLs use. Round-tripping real tokens confirms it.
 *
 * Reasons are specific (tests assert on them) but never contain the token, signature or secret key.
 */

export const EMPTY_PAYLOAD_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ALGORITHM = 'AWS4-HMAC-SHA256';
const SERVICE = 'dsql';
const MAX_EXPIRES_SECONDS = 604_800; // SigV4 presigned URLs live at most one week
const MAX_CLOCK_SKEW_MS = 5 * 60_000; // AWS tolerates a signing time up to 5 minutes ahead

export interface SigningCredentials {
  secretAccessKey: string;
  /** When the signing credentials (e.g. an assumed-role session) expire: the token dies with them. */
  expiresAt?: Date;
  /** If given, the token must carry exactly this X-Amz-Security-Token (session credentials). */
  sessionToken?: string;
}

export interface VerifyExpectations {
  /** The endpoint's own host name (no port), e.g. `abc.dsql.us-east-1.on.aws` or `localhost`. */
  host: string;
  region: string;
  /** The database user from the StartupMessage: `admin` needs DbConnectAdmin, others DbConnect. */
  user: string;
  /** Looks up the secret for an access key id; undefined = unknown key. */
  credentials: (accessKeyId: string) => SigningCredentials | undefined;
  now?: Date;
}

export type VerifyResult = { ok: true; accessKeyId: string } | { ok: false; reason: string };

/** RFC 3986 encoding as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function hmac(key: crypto.BinaryLike, data: string): Buffer {
  return crypto.createHmac('sha256', key).update(data, 'utf8').digest();
}

/** `20250102T030405Z` -> Date, or undefined if not in that exact shape. */
function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** Splits `<host>/?k=v&…` into host and decoded query parameters; a string reason on failure. */
function parseToken(token: string): { host: string; params: Map<string, string> } | string {
  const sep = token.indexOf('/?');
  if (sep <= 0) return 'malformed token: expected <host>/?<query>';
  const host = token.slice(0, sep);
  if (host.includes('://')) return 'malformed token: must not include a URL scheme';
  const params = new Map<string, string>();
  for (const pair of token.slice(sep + 2).split('&')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return 'malformed token: bad query parameter';
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(pair.slice(0, eq));
      value = decodeURIComponent(pair.slice(eq + 1));
    } catch {
      return 'malformed token: bad percent-encoding';
    }
    if (params.has(key)) return `malformed token: duplicate parameter ${key}`;
    params.set(key, value);
  }
  return { host, params };
}

export function verifyDsqlToken(token: string, expect: VerifyExpectations): VerifyResult {
  const fail = (reason: string): VerifyResult => ({ ok: false, reason });
  const now = expect.now ?? new Date();

  const parsed = parseToken(token);
  if (typeof parsed === 'string') return fail(parsed);
  const { host, params } = parsed;
  for (const required of [
    'Action',
    'X-Amz-Algorithm',
    'X-Amz-Credential',
    'X-Amz-Date',
    'X-Amz-Expires',
    'X-Amz-SignedHeaders',
    'X-Amz-Signature',
  ]) {
    if (!params.has(required)) return fail(`malformed token: missing ${required}`);
  }
  const get = (k: string) => params.get(k) as string;

  if (get('X-Amz-Algorithm') !== ALGORITHM) return fail(`unsupported algorithm ${get('X-Amz-Algorithm')}`);

  // Credential scope: <akid>/<yyyymmdd>/<region>/dsql/aws4_request
  const scopeParts = get('X-Amz-Credential').split('/');
  if (scopeParts.length !== 5 || scopeParts[4] !== 'aws4_request' || !scopeParts[0]) {
    return fail('malformed credential scope');
  }
  const [accessKeyId, scopeDate, region, service] = scopeParts;

  if (host.toLowerCase() !== expect.host.toLowerCase()) {
    return fail(`host mismatch: token signed for ${host}, endpoint is ${expect.host}`);
  }
  if (region !== expect.region) return fail(`token signed for region ${region}, endpoint is ${expect.region}`);
  if (service !== SERVICE) return fail(`token signed for service ${service}, expected ${SERVICE}`);

  const action = get('Action');
  const wantedAction = expect.user === 'admin' ? 'DbConnectAdmin' : 'DbConnect';
  if (action !== wantedAction) return fail(`wrong action ${action} for user ${expect.user} (needs ${wantedAction})`);

  if (get('X-Amz-SignedHeaders') !== 'host') return fail(`unexpected signed headers ${get('X-Amz-SignedHeaders')}`);

  const signedAt = parseAmzDate(get('X-Amz-Date'));
  if (!signedAt) return fail('malformed X-Amz-Date');
  if (get('X-Amz-Date').slice(0, 8) !== scopeDate) return fail('credential scope date does not match X-Amz-Date');
  const expiresIn = /^\d+$/.test(get('X-Amz-Expires')) ? Number(get('X-Amz-Expires')) : NaN;
  if (!(expiresIn >= 1 && expiresIn <= MAX_EXPIRES_SECONDS)) return fail(`X-Amz-Expires must be 1..${MAX_EXPIRES_SECONDS}`);
  if (signedAt.getTime() - now.getTime() > MAX_CLOCK_SKEW_MS) {
    return fail(`token signed in the future (${signedAt.toISOString()}, now ${now.toISOString()})`);
  }
  const expiresAt = new Date(signedAt.getTime() + expiresIn * 1000);
  if (now.getTime() >= expiresAt.getTime()) return fail(`token expired at ${expiresAt.toISOString()}`);

  const creds = expect.credentials(accessKeyId);
  if (!creds) return fail(`unknown access key ${accessKeyId}`);
  // A presigned token is only as alive as the credentials that signed it (DSQL troubleshooting guide).
  if (creds.expiresAt && now.getTime() >= creds.expiresAt.getTime()) {
    return fail(`signing credentials expired at ${creds.expiresAt.toISOString()}`);
  }
  if (creds.sessionToken !== undefined && params.get('X-Amz-Security-Token') !== creds.sessionToken) {
    return fail('security token does not match the signing credentials');
  }

  const signature = get('X-Amz-Signature');
  if (!/^[0-9a-f]{64}$/.test(signature)) return fail('malformed signature');
  const expected = computeSignature({ host, params, secretAccessKey: creds.secretAccessKey, scope: scopeParts.slice(1).join('/') });
  const ok = crypto.timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(signature, 'hex'));
  return ok ? { ok: true, accessKeyId } : fail('signature mismatch');
}

/** SigV4 presigned-URL signature for `GET https://<host>/?<params>` with only `host` signed. */
function computeSignature(input: { host: string; params: Map<string, string>; secretAccessKey: string; scope: string }): string {
  const canonicalQuery = [...input.params.entries()]
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalRequest = ['GET', '/', canonicalQuery, `host:${input.host.trim()}`, '', 'host', EMPTY_PAYLOAD_SHA256].join('\n');
  const amzDate = input.params.get('X-Amz-Date') as string;
  const stringToSign = [ALGORITHM, amzDate, input.scope, crypto.createHash('sha256').update(canonicalRequest, 'utf8').digest('hex')].join(
    '\n',
  );
  const [date, region, service, terminator] = input.scope.split('/');
  let key: Buffer = hmac(`AWS4${input.secretAccessKey}`, date);
  for (const part of [region, service, terminator]) key = hmac(key, part);
  return hmac(key, stringToSign).toString('hex');
}
