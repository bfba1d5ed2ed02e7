/** DSQL token helpers: an SDK-independent SigV4 check, query parameters, and values signed with a given key. */
import { createHash, createHmac } from 'crypto';
import { DsqlSigner } from '@aws-sdk/dsql-signer';
import { DsqlUrlSecretValue } from '../../lib/contract';
import { buildSecretValue } from '../../functions/token';
import { HOST, REGION } from './fixtures';
import { config } from './fixtures-config';
import { FakeAccessKey } from './fixtures-iam';

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Recomputes the SigV4 query-string signature of a DSQL token with node:crypto
 * alone (independent of the SDK's signer) and reports whether it matches.
 */
export function presignedTokenIsValid(token: string, credentials: { secretAccessKey: string }, region: string): boolean {
  const slash = token.indexOf('/?');
  const host = token.slice(0, slash);
  const params = token
    .slice(slash + 2)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return [decodeURIComponent(pair.slice(0, eq)), decodeURIComponent(pair.slice(eq + 1))] as [string, string];
    });
  const signature = params.find(([k]) => k === 'X-Amz-Signature')?.[1];
  const amzDate = params.find(([k]) => k === 'X-Amz-Date')?.[1];
  if (signature === undefined || amzDate === undefined) return false;
  const canonicalQuery = params
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [rfc3986(k), rfc3986(v)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
  const canonicalRequest = ['GET', '/', canonicalQuery, `host:${host}`, '', 'host', sha256('')].join('\n');
  const scope = `${amzDate.slice(0, 8)}/${region}/dsql/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
  let key = hmac(`AWS4${credentials.secretAccessKey}`, amzDate.slice(0, 8));
  for (const part of [region, 'dsql', 'aws4_request']) key = hmac(key, part);
  return createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex') === signature;
}

/** The query parameters of a DSQL token (`<host>/?Action=…&X-Amz-…`). */
export function tokenParams(token: string): URLSearchParams {
  return new URL(`https://${token}`).searchParams;
}

/** A complete secret value whose token was signed with `key` (long-term: no session token). */
export async function valueSignedWith(key: FakeAccessKey, issuedAt: Date = new Date()): Promise<DsqlUrlSecretValue> {
  const signer = new DsqlSigner({ hostname: HOST, region: REGION, expiresIn: 43200, credentials: key });
  const token = await signer.getDbConnectAdminAuthToken();
  return buildSecretValue(config(), token, issuedAt, new Date(issuedAt.getTime() + 43200_000));
}
