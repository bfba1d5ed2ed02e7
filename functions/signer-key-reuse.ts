/**
 * When createSecret may not delete the signer user's other key, and what it
 * does then. IAM allows two keys per user, so a key kept for tasks that still
 * use it leaves no room for a new one: the new token is signed with
 * AWSCURRENT's key instead (it is in the keys secret, and IAM still has it),
 * and nothing is deleted. That token lives its full lifetime, the old tasks
 * keep theirs, and the next rotation whose survey finds the other key free
 * deletes it and creates a fresh key again.
 */
import { currentTokenPromotedAt, RotationState } from '../core/rotation-state';
import { keySuffix } from '../core/redact';
import { SignerKeysValue } from '../lib/contract';
import { PromotionHistoryTag } from '../lib/secret-tags';
import { previousTokenInUseSeconds } from '../lib/timing';
import { HandlerConfig } from './config';
import { KeyGuardContext, keysInUse, SigningKeyOf, verdictText } from './key-guard';
import { log } from './log';
import { SigningCredentials } from './token';

export interface KeepContext extends KeyGuardContext {
  readonly config: Pick<
    HandlerConfig,
    'rolloutAllowanceSeconds' | 'watchdogIntervalSeconds' | 'boundServicesParameter' | 'boundServicesParameterCount'
  >;
}

export interface KeepInput {
  readonly state: RotationState;
  readonly stored: SignerKeysValue;
  /** Every key of the user but AWSCURRENT's. */
  readonly toDelete: readonly string[];
  readonly currentKeyId: string | undefined;
  readonly previousKeyId: string | undefined;
  readonly now: Date;
  /** Reads a version of the URL secret to tell which key signed it (a version neither AWSCURRENT nor AWSPREVIOUS). */
  readonly signingKeyOf: SigningKeyOf;
}

/** Why the keys in `toDelete` must all stay, with the services and running tasks that use them when the fleet said so. */
export interface KeepReason {
  readonly why: string;
  readonly services: number;
  readonly tasks: number;
}

/**
 * The keys to delete stay while tasks may use one:
 * - within previousTokenInUseSeconds (lib/timing.ts: the rollout and the heal
 *   of a stuck one) of the current token's promotion, a key of a promoted
 *   version (AWSPREVIOUS's, or one in the promotion history): tasks not yet
 *   replaced, standalone ones included, hold its token;
 * - after that, while a running task of a bound service holds a token it
 *   signed, or the survey cannot tell (key-guard.ts).
 * Keys of versions never promoted (orphans of failed rotations) are not
 * held back by the first rule. undefined: every key in `toDelete` may go.
 */
export async function reasonToKeepKeys(ctx: KeepContext, i: KeepInput): Promise<KeepReason | undefined> {
  if (i.toDelete.length === 0) return undefined;
  const allowance = ctx.config.rolloutAllowanceSeconds;
  const promotedAt = currentTokenPromotedAt(i.state);
  const recorded = PromotionHistoryTag.decode(ctx.metadata.Tags?.find((t) => t.Key === PromotionHistoryTag.key)?.Value);
  const storedOf = (id: string) => i.stored.keys.find((k) => k.accessKeyId === id);
  const promoted = (id: string) =>
    id === i.previousKeyId || recorded.some((r) => r.versionId === storedOf(id)?.versionId && r.versionId !== i.state.current);
  if (allowance > 0 && promotedAt !== undefined && i.toDelete.some(promoted)) {
    const timing = { rolloutAllowanceSeconds: allowance, watchdogIntervalSeconds: ctx.config.watchdogIntervalSeconds };
    const safeAfter = new Date(promotedAt.getTime() + previousTokenInUseSeconds(timing) * 1000);
    if (safeAfter.getTime() > i.now.getTime()) {
      return {
        why:
          `the current token was promoted at ${promotedAt.toISOString()}, and until ${safeAfter.toISOString()} (2 x rolloutAllowance + ` +
          'watchdogInterval: the rollout, and the heal of a stuck one) tasks not yet replaced may hold the previous token',
        services: 0,
        tasks: 0,
      };
    }
  }
  const keys = i.toDelete.map((id) => {
    const s = storedOf(id);
    const createdAt = s?.createdAt === undefined ? NaN : Date.parse(s.createdAt);
    return { accessKeyId: id, versionId: s?.versionId, createdAt: Number.isNaN(createdAt) ? undefined : new Date(createdAt) };
  });
  const signingKeyOf: SigningKeyOf = async (versionId) => {
    if (versionId === i.state.current) return i.currentKeyId;
    if (versionId === i.state.previous) return i.previousKeyId;
    return i.signingKeyOf(versionId);
  };
  const verdict = await keysInUse(ctx, keys, signingKeyOf);
  if (!verdict.inUse) return undefined;
  return { why: `running tasks may still use a key it would delete: ${verdictText(verdict.reasons)}`, ...verdict };
}

export interface SignWithCurrentInput {
  readonly userName: string;
  readonly stored: SignerKeysValue;
  /** The user's keys, as IAM lists them. */
  readonly existing: readonly string[];
  readonly currentKeyId: string | undefined;
  readonly keep: KeepReason;
  /** The log fields of the rotation. */
  readonly fields: Readonly<Record<string, string>>;
}

/** Deletes nothing and signs with AWSCURRENT's key (still in IAM and in the keys secret), or fails loudly when it cannot. */
export function signWithCurrentKey(i: SignWithCurrentInput): SigningCredentials {
  const current = i.stored.keys.find((k) => k.accessKeyId === i.currentKeyId);
  if (i.currentKeyId === undefined || current === undefined || !i.existing.includes(i.currentKeyId)) {
    const where =
      i.currentKeyId === undefined
        ? 'AWSCURRENT holds no token signed by an access key'
        : `AWSCURRENT's access key ${keySuffix(i.currentKeyId)} is missing from ${current === undefined ? 'the signer keys secret' : 'IAM'}`;
    throw new Error(
      `createSecret: no access key of user ${i.userName} may be deleted (${i.keep.why}), and ${where}, so it cannot sign ` +
        'instead. No access key was deleted or created. The watchdog redeploys services whose tasks outlive their rollout; ' +
        'a later rotation deletes the key once no task uses it.',
    );
  }
  log.warn(
    "createSecret: keeping every access key of the signer user and signing with AWSCURRENT's key: its life is extended " +
      'until a rotation finds no running task using the other key',
    {
      ...i.fields,
      key: keySuffix(i.currentKeyId),
      reason: i.keep.why,
      services: i.keep.services,
      tasks: i.keep.tasks,
      keyLifeExtended: true,
    },
  );
  return { accessKeyId: current.accessKeyId, secretAccessKey: current.secretAccessKey };
}
