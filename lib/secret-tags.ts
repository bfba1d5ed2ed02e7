/**
 * Every tag this package puts on the URL secret, each key beside its encoding
 * and decoding, so the construct, the functions and the CLI read and write
 * one format. Pure: no AWS SDK.
 *
 * Not exported from the package entry point: it is an internal detail.
 */

/** Tags the construct writes at deploy, so tools (the CLI) can find everything from the secret alone. */
export const SecretTag = {
  /** Marks a secret managed by this construct; the value is the construct path. */
  MANAGED_BY: 'cdk-dsql-url-secret:managed-by',
  /** Name of the (first) SSM parameter that lists the bound services. */
  BOUND_SERVICES_PARAMETER: 'cdk-dsql-url-secret:bound-services-parameter',
  /** rotationInterval in seconds. */
  ROTATION_INTERVAL_SECONDS: 'cdk-dsql-url-secret:rotation-interval-seconds',
} as const;

/** `rotationInterval` as the ROTATION_INTERVAL_SECONDS tag holds it. */
export function encodeRotationInterval(seconds: number): string {
  return String(seconds);
}

/** The ROTATION_INTERVAL_SECONDS tag's value; undefined unless a positive number. */
export function decodeRotationInterval(raw: string | undefined): number | undefined {
  const seconds = Number(raw);
  return raw !== undefined && raw !== '' && Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}

/** A version and a moment, as both rotation tags hold them: `<versionId> <ISO-8601 time>`. */
export interface VersionAt {
  readonly versionId: string;
  readonly at: Date;
}

function encodeVersionAt(v: VersionAt): string {
  return `${v.versionId} ${v.at.toISOString()}`;
}

function decodeVersionAt(raw: string | undefined): VersionAt | undefined {
  const [versionId, iso, extra] = (raw ?? '').split(' ');
  if (!versionId || iso === undefined || extra !== undefined) return undefined;
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? undefined : { versionId, at };
}

/**
 * Written by finishSecret right after a version is promoted, before any
 * redeploy: which version, and when it became AWSCURRENT. A retried
 * finishSecret skips services whose newest deployment started after it.
 */
export const PromotedTag = {
  key: 'cdk-dsql-url-secret:promoted',
  encode: encodeVersionAt,
  /** undefined when absent or malformed. */
  decode: decodeVersionAt,
} as const;

/**
 * Written by createSecret when it deferred a rotation (it started within
 * 2 x rolloutAllowance + watchdogInterval of the last promotion, the rollout
 * and the heal of a stuck one, so it stored AWSCURRENT's value
 * again as the pending version instead of a new token): the deferred version,
 * and the time from which a real rotation may run. finishSecret reads it to
 * know the version is a copy (no redeploy); the watchdog rotates once the time
 * has passed; a real rotation's finishSecret removes it.
 */
export const DeferredTag = {
  key: 'cdk-dsql-url-secret:deferred-until',
  encode: encodeVersionAt,
  /** undefined when absent or malformed. */
  decode: decodeVersionAt,
} as const;

/** One real promotion, as the promotion history keeps it. */
export interface PromotionRecord {
  readonly versionId: string;
  readonly promotedAt: Date;
  /** The token's expiresAt (the value's field); what a task that started with it holds until it is replaced. */
  readonly expiresAt: Date;
}

/** A tag value holds at most 256 characters. */
const TAG_VALUE_LIMIT = 256;

/**
 * Written by finishSecret with the promoted tag: the newest real promotions
 * (deferred copies are not promotions of a new token), newest first, as many
 * as fit in one tag value (4 with UUID version ids). A task reads AWSCURRENT
 * when it starts, so the record promoted last before its start names the
 * token it holds (core/fleet.ts). Each record is
 * `<versionId>/<promoted epoch seconds>/<expires epoch seconds>`, records
 * separated by a space.
 */
export const PromotionHistoryTag = {
  key: 'cdk-dsql-url-secret:promotions',
  /** The newest records that fit in a tag value, newest first. */
  encode(records: readonly PromotionRecord[]): string {
    let value = '';
    for (const r of records) {
      const entry = `${r.versionId}/${Math.floor(r.promotedAt.getTime() / 1000)}/${Math.floor(r.expiresAt.getTime() / 1000)}`;
      const next = value === '' ? entry : `${value} ${entry}`;
      if (next.length > TAG_VALUE_LIMIT) break;
      value = next;
    }
    return value;
  },
  /** Well-formed records only, newest first; [] when absent. */
  decode(raw: string | undefined): PromotionRecord[] {
    const records: PromotionRecord[] = [];
    for (const entry of (raw ?? '').split(' ')) {
      const [versionId, promoted, expires, extra] = entry.split('/');
      const promotedAt = new Date(Number(promoted) * 1000);
      const expiresAt = new Date(Number(expires) * 1000);
      if (!versionId || extra !== undefined || !/^\d+$/.test(promoted ?? '') || !/^\d+$/.test(expires ?? '')) continue;
      records.push({ versionId, promotedAt, expiresAt });
    }
    return records.sort((a, b) => b.promotedAt.getTime() - a.promotedAt.getTime());
  },
} as const;

/**
 * The only tags the rotation function writes or removes (finishSecret, createSecret's deferral): its TagResource and UntagResource
 * grant names these keys, so it can neither retag the construct's own tags (MANAGED_BY, the endpoint) nor any tag another
 * policy's `aws:ResourceTag` condition trusts.
 */
export const ROTATION_TAG_KEYS: readonly string[] = [PromotedTag.key, PromotionHistoryTag.key, DeferredTag.key];

/** `history` with `record` in front (a retry that already recorded it changes nothing). */
export function withPromotion(history: readonly PromotionRecord[], record: PromotionRecord): PromotionRecord[] {
  return [record, ...history.filter((r) => r.versionId !== record.versionId)];
}

/** What the URL is made of besides the token: the fields of UrlSettings (core/url-settings.ts). */
export interface EndpointSettings {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** Database role. */
  readonly username: string;
  /** URL query string without the leading `?` ('' for none), as URLSearchParams writes it. */
  readonly urlQuery: string;
}

// A CDK string token at synth (the host is one): left as it is, CloudFormation fills it in.
const CDK_TOKEN = /(\$\{Token\[[^\]]*\]\})/;
/** How long a token's value is assumed to be: cluster ids are 26 characters, VPC endpoint names about 70. */
const TOKEN_LENGTH_ESTIMATE = 64;

/**
 * Tag values allow only letters, digits, spaces and `_.:/=+-@`: no `%`, `?` or `&`. Like
 * percent-encoding with `+` for `%`: every character but letters, digits and `_.-` becomes `+XX`
 * per UTF-8 byte, so `:`, `/`, `@`, `=` and spaces stay free as separators.
 */
function tagEscape(text: string): string {
  return text
    .split(CDK_TOKEN)
    .map((part, i) => (i % 2 === 1 ? part : encodeURIComponent(part).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)))
    .join('')
    .replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => `+${hex.toUpperCase()}`);
}

function tagUnescape(text: string): string {
  if (/\+(?![0-9A-F]{2})/.test(text)) throw new URIError('a + that starts no escape');
  return decodeURIComponent(text.replace(/%/g, '%25').replace(/\+([0-9A-F]{2})/g, '%$1'));
}

/**
 * Written by the construct at synth: the connection URL without credentials, so the CLI's
 * `exec --sign` can mint a token for the same endpoint, role and parameters without reading the
 * secret's value. `postgres://<role>@<host>:<port>/<database>` then ` <key>=<value>` per URL
 * parameter, each part escaped as tagEscape says, e.g.
 * `postgres://admin@abc.dsql.eu-west-1.on.aws:5432/postgres sslmode=require`.
 */
export const EndpointTag = {
  key: 'cdk-dsql-url-secret:endpoint',
  /** undefined when the value could be longer than a tag value may be (the tag is then left out). */
  encode(s: EndpointSettings): string | undefined {
    const pairs = [...new URLSearchParams(s.urlQuery)].map(([k, v]) => ` ${tagEscape(k)}=${tagEscape(v)}`);
    const value = `postgres://${tagEscape(s.username)}@${tagEscape(s.host)}:${s.port}/${tagEscape(s.database)}${pairs.join('')}`;
    const length = value.split(CDK_TOKEN).reduce((n, part, i) => n + (i % 2 === 1 ? TOKEN_LENGTH_ESTIMATE : part.length), 0);
    return length > TAG_VALUE_LIMIT ? undefined : value;
  },
  /** undefined when absent or malformed. */
  decode(raw: string | undefined): EndpointSettings | undefined {
    const m = /^postgres:\/\/([^@\s]+)@([^:\s]+):(\d{1,5})\/(\S+)((?: [^\s=]+=\S*)*)$/.exec(raw ?? '');
    if (!m) return undefined;
    try {
      const pairs = m[5]
        .split(' ')
        .slice(1)
        .map((pair) => pair.split('=').map(tagUnescape) as [string, string]);
      const query = new URLSearchParams(pairs).toString();
      return { username: tagUnescape(m[1]), host: tagUnescape(m[2]), port: Number(m[3]), database: tagUnescape(m[4]), urlQuery: query };
    } catch {
      return undefined; // a broken +XX escape
    }
  },
} as const;
