import { PutSecretValueCommand, TagResourceCommand, UntagResourceCommand } from '@aws-sdk/client-secrets-manager';
import { currentTokenPromotedAt, lastPromotionAt, RotationState, rotationStateOf } from '../core/rotation-state';
import { valueMatchesSettings } from '../core/url-settings';
import { DsqlUrlSecretValue } from '../lib/contract';
import { DeferredTag } from '../lib/secret-tags';
import { checkConnection } from './connection-check';
import { decideDeferral, deferralEndsAt } from './deferral';
import { log } from './log';
import { readCurrentValue } from './secret-values';
import { StepContext } from './step-context';

/**
 * createSecret's deferral (the rule is deferral.ts): a rotation within the
 * rollout and heal window of the last promotion stores AWSCURRENT's value again as
 * AWSPENDING and tags the secret with this version and the time from which
 * the watchdog rotates for real. Returns whether it deferred.
 *
 * The tag is written before the value: a retry after a failed write decides
 * again, and one that then rotates for real removes the tag first, so a tag
 * never names a version that holds a new token.
 */
export async function deferIfWithinRollout(ctx: StepContext, now: Date): Promise<boolean> {
  const state = rotationStateOf(ctx.metadata);
  const allowance = ctx.config.rolloutAllowanceSeconds;
  const fields = { secretArn: ctx.secretArn, versionId: ctx.versionId };
  // Cheap check first: no promotion within the rollout and heal window means no read at all.
  const last = lastPromotionAt(state);
  const timing = { rolloutAllowanceSeconds: allowance, watchdogIntervalSeconds: ctx.config.watchdogIntervalSeconds };
  if (allowance <= 0 || last === undefined || now.getTime() >= deferralEndsAt(last, timing).getTime()) {
    await forgetDeferralOfThisVersion(ctx, state);
    return false;
  }

  const current = await readCurrentValue(ctx.sm, ctx.secretArn);
  const value = current?.value;
  const expiresMs = typeof value?.expiresAt === 'string' ? Date.parse(value.expiresAt) : NaN;
  const decision = decideDeferral({
    now,
    promotedAt: currentTokenPromotedAt(state),
    ...timing,
    currentExpiresAt: value?.url && !Number.isNaN(expiresMs) ? new Date(expiresMs) : undefined,
    // The whole URL, query included: keeping a URL made under another configuration would keep it stale.
    currentMatchesConfig: valueMatchesSettings(value, ctx.config),
  });
  if (!decision.defer) {
    log.info('createSecret: not deferring this rotation', { ...fields, reason: decision.reason });
    await forgetDeferralOfThisVersion(ctx, state);
    return false;
  }
  try {
    await checkConnection(value as DsqlUrlSecretValue, ctx.config.connectTimeoutSeconds);
  } catch (err) {
    log.warn('createSecret: the current URL does not authenticate, rotating now instead of deferring', {
      ...fields,
      detail: (err as Error).message.replace(/^testSecret: /, ''),
    });
    await forgetDeferralOfThisVersion(ctx, state);
    return false;
  }
  await ctx.sm.send(
    new TagResourceCommand({
      SecretId: ctx.secretArn,
      Tags: [{ Key: DeferredTag.key, Value: DeferredTag.encode({ versionId: ctx.versionId, at: decision.until }) }],
    }),
  );
  await ctx.sm.send(
    new PutSecretValueCommand({
      SecretId: ctx.secretArn,
      ClientRequestToken: ctx.versionId,
      SecretString: current!.raw,
      VersionStages: ['AWSPENDING'],
    }),
  );
  log.warn(
    'createSecret: rotation deferred: stored the current URL again as AWSPENDING (no new token, no redeploy); ' +
      'the watchdog rotates once the deferral ends',
    {
      ...fields,
      reason: decision.reason,
      deferredUntil: decision.until.toISOString(),
      signer: ctx.config.signer.kind,
    },
  );
  return true;
}

/** An earlier attempt of this rotation deferred it but failed before storing the copy; this attempt rotates for real. */
async function forgetDeferralOfThisVersion(ctx: StepContext, state: RotationState): Promise<void> {
  if (state.deferred?.versionId !== ctx.versionId) return;
  await ctx.sm.send(new UntagResourceCommand({ SecretId: ctx.secretArn, TagKeys: [DeferredTag.key] }));
  log.info('createSecret: removed the deferral tag an earlier attempt of this rotation wrote', {
    secretArn: ctx.secretArn,
    versionId: ctx.versionId,
  });
}

/** A real rotation ends any deferral: the watchdog must not rotate again for it. */
export async function clearDeferral(ctx: StepContext): Promise<void> {
  // The tag itself, even malformed: whatever it says, it must go.
  if (!ctx.metadata.Tags?.some((t) => t.Key === DeferredTag.key)) return;
  try {
    await ctx.sm.send(new UntagResourceCommand({ SecretId: ctx.secretArn, TagKeys: [DeferredTag.key] }));
    log.info('finishSecret: removed the deferral tag', { secretArn: ctx.secretArn, versionId: ctx.versionId });
  } catch (err) {
    // At worst the watchdog starts one more rotation, which is deferred or real: not worth failing the redeploys for.
    log.warn('finishSecret: could not remove the deferral tag', {
      secretArn: ctx.secretArn,
      versionId: ctx.versionId,
      error: (err as Error).name,
    });
  }
}
