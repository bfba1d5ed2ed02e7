import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { SignerKind } from '../lib/contract';
import { checkConnection } from './connection-check';
import { deferIfWithinRollout } from './defer-rotation';
import { log } from './log';
import { readPendingValue } from './secret-values';
import { signingCredentials } from './signer';
import { StepContext } from './step-context';
import { mintSecretValue } from './token';

/** About 30 s in all: a new IAM access key is normally accepted within a few seconds. */
export const NEW_KEY_RETRY_DELAYS_MS: readonly number[] = [2_000, 4_000, 8_000, 16_000];

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Mints a new token and stores the URL as AWSPENDING, unless a retry already
 * did, or the rotation is deferred (deferIfWithinRollout): then AWSCURRENT's
 * value is stored again, before any access key is touched.
 */
export async function createSecret(ctx: StepContext): Promise<void> {
  if ((await readPendingValue(ctx.sm, ctx.secretArn, ctx.versionId)) !== undefined) {
    log.info('createSecret: pending value already exists, nothing to do', { secretArn: ctx.secretArn, versionId: ctx.versionId });
    return;
  }
  const now = new Date();
  if (await deferIfWithinRollout(ctx, now)) return;
  const credentials = await signingCredentials(ctx, now);
  const value = await mintSecretValue(ctx.config, now, credentials);
  await ctx.sm.send(
    new PutSecretValueCommand({
      SecretId: ctx.secretArn,
      ClientRequestToken: ctx.versionId,
      SecretString: JSON.stringify(value),
      VersionStages: ['AWSPENDING'],
    }),
  );
  log.info('createSecret: stored a new URL as AWSPENDING', {
    secretArn: ctx.secretArn,
    versionId: ctx.versionId,
    signer: ctx.config.signer.kind,
    expiresAt: value.expiresAt,
  });
}

/**
 * Nothing to change in DSQL: a token is not a password stored in the database.
 * DSQL checks each token's signature against IAM when a client connects, so a
 * freshly signed token is valid as soon as it exists.
 */
export async function setSecret(ctx: StepContext): Promise<void> {
  log.info('setSecret: nothing to do, DSQL validates tokens against IAM at connect time', {
    secretArn: ctx.secretArn,
    versionId: ctx.versionId,
  });
}

/**
 * Connects with the pending URL for real; a token DSQL would refuse never gets
 * promoted.
 *
 * Two special cases:
 * - With RotateImmediately=false, Secrets Manager runs only this step, on a
 *   throwaway AWSPENDING copy of the current value. If that is the
 *   construct's placeholder (empty url: createSecret always writes a real
 *   one), there is no token to test yet.
 * - A brand-new IAM access key takes a few seconds to be accepted: with the
 *   access-key signer an authentication failure is retried with backoff
 *   (about 30 s in all). The role signer's credentials are not new, so it
 *   fails at once.
 */
export async function testSecret(ctx: StepContext): Promise<void> {
  const fields = { secretArn: ctx.secretArn, versionId: ctx.versionId };
  const value = await readPendingValue(ctx.sm, ctx.secretArn, ctx.versionId);
  if (value === undefined) {
    throw new Error(`testSecret: version ${ctx.versionId} of ${ctx.secretArn} has no AWSPENDING value; createSecret did not run or failed`);
  }
  if (value.url === '') {
    log.info('testSecret: the pending value is the placeholder (no token yet), nothing to test', fields);
    return;
  }
  if (Date.parse(value.expiresAt) <= Date.now()) {
    throw new Error(`testSecret: the pending token expired at ${value.expiresAt}; a retry mints a new one only in a new rotation`);
  }
  const delays = ctx.config.signer.kind === SignerKind.ACCESS_KEY ? (ctx.newKeyRetryDelaysMs ?? NEW_KEY_RETRY_DELAYS_MS) : [];
  const sleep = ctx.sleep ?? sleepFor;
  for (let attempt = 1; ; attempt++) {
    try {
      await checkConnection(value, ctx.config.connectTimeoutSeconds);
      break;
    } catch (err) {
      // `kind` is set by checkConnection; 'auth' means DSQL refused the token.
      const refused = (err as { kind?: string }).kind === 'auth';
      if (!refused || attempt > delays.length) {
        if (refused && attempt > 1) {
          const waited = delays.slice(0, attempt - 1).reduce((a, b) => a + b, 0) / 1000;
          (err as Error).message +=
            ` (still refused after ${attempt} attempts over ${waited} s; a new IAM access key is normally accepted within seconds)`;
        }
        throw err;
      }
      log.info('testSecret: DSQL refused the token of a new access key; IAM may not have propagated the key yet, retrying', {
        ...fields,
        attempt,
        retryInMs: delays[attempt - 1],
      });
      await sleep(delays[attempt - 1]);
    }
  }
  log.info('testSecret: the pending URL connects and runs SELECT 1', fields);
}
