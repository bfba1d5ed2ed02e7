/**
 * Refused tokens, end to end: the DSQL-style endpoint (or the handler itself) refuses the token a
 * rotation minted. testSecret must fail, AWSCURRENT must stay untouched and keep authenticating, no
 * service may be redeployed, and the endpoint must have counted each refusal with the expected reason.
 * A refusal that persists through the rotation service's retries leaves AWSPENDING behind, loudly:
 * the next RotateSecret is refused until an operator clears it (as on AWS).
 */
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { DsqlUrlSecretValue } from '../../lib/contract';
import { LocalCredentials, LocalStack, newCredentials } from '../support/local-stack';
import { RotationFailedError } from '../support/rotation-service';
import { pgSelectOne, tokenParams } from './clients';
import {
  abandonPending,
  blockingPending,
  captureOutput,
  changed,
  deploymentIds,
  findLeaks,
  fingerprint,
  oncePerService,
  rotateWith,
  sleep,
  snapshot,
  stagesOf,
  startStack,
  StepCall,
  UpdateServiceRecorder,
} from './harness';

describe('refused tokens: testSecret fails and AWSCURRENT is untouched', () => {
  let stack: LocalStack;
  let output: ReturnType<typeof captureOutput>;
  let recorder: UpdateServiceRecorder;
  let good: LocalCredentials;
  const signers: LocalCredentials[] = [];
  const errorTexts: string[] = [];
  const extraTokens: string[] = [];

  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({ services: 1 });
    recorder = new UpdateServiceRecorder(stack);
    good = stack.signer;
    signers.push(good);
    await stack.rotate();
  }, 60_000);

  afterEach(() => {
    stack.signer = good;
  });

  afterAll(async () => {
    output?.restore();
    await stack?.stop();
  });

  /**
   * Runs a rotation that must fail in testSecret on every attempt, then checks: AWSCURRENT is the same
   * version and token and still authenticates, no service was redeployed, the abandoned version keeps
   * AWSPENDING (a loud failure), and the endpoint recorded one rejection per attempt with `reason`
   * (or none, when the handler refuses the token itself before connecting).
   */
  async function expectRefused(opts: {
    hook?: (call: StepCall) => Promise<void>;
    message: RegExp;
    reason?: RegExp;
    user?: string;
  }): Promise<{ token: string; pending: DsqlUrlSecretValue }> {
    recorder.reset();
    const before = await snapshot(stack, stack.serviceArns);
    const error = await rotateWith(stack, opts.hook ?? (({ real }) => real())).then(
      () => new Error('the rotation succeeded but should have failed'),
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(RotationFailedError);
    const failed = error as RotationFailedError;
    errorTexts.push(failed.message);
    expect(failed.failures.map((f) => f.step)).toEqual(['testSecret', 'testSecret', 'testSecret']);
    for (const f of failed.failures) expect(f.message).toMatch(opts.message);

    const rejections = stack.endpoint.stats.rejections.slice(before.rejectionsAt);
    if (opts.reason) {
      expect(rejections).toHaveLength(3);
      for (const r of rejections) {
        expect(r.user).toBe(opts.user ?? 'admin');
        expect(r.reason).toMatch(opts.reason);
      }
    } else {
      expect(rejections).toEqual([]);
    }

    const stages = await stagesOf(stack);
    expect(stages[before.currentVersion]).toEqual(['AWSCURRENT']);
    expect(stages[failed.token]).toEqual(['AWSPENDING']);
    expect(blockingPending(stages)).toEqual([failed.token]);
    const current = await stack.readStage('AWSCURRENT');
    expect(fingerprint(current.password)).toBe(before.currentFingerprint);
    await expect(pgSelectOne(current.url, stack.endpoint.caFile)).resolves.toBe(1);
    expect(changed(before.deployments, await deploymentIds(stack, stack.serviceArns))).toEqual([]);
    expect(recorder.snapshot()).toEqual({});
    return { token: failed.token, pending: await stack.readStage('AWSPENDING') };
  }

  describe('(e) the endpoint does not accept the signing credentials', () => {
    test('new credentials not yet known to the endpoint, then known: the retry reuses the pending token and succeeds', async () => {
      const fresh = newCredentials();
      signers.push(fresh);
      stack.signer = fresh;
      recorder.reset();
      const before = await snapshot(stack, stack.serviceArns);
      let between: { reason: string; currentVersion: string; oldStillWorks: number } | undefined;
      const result = await rotateWith(stack, async ({ step, attempt, real }) => {
        if (step !== 'testSecret' || attempt !== 1) return real();
        try {
          await real();
        } finally {
          const stages = await stagesOf(stack);
          between = {
            reason: stack.endpoint.stats.rejections.at(-1)?.reason ?? '',
            currentVersion: Object.entries(stages).find(([, s]) => s.includes('AWSCURRENT'))![0],
            oldStillWorks: await pgSelectOne((await stack.readStage('AWSCURRENT')).url, stack.endpoint.caFile),
          };
          stack.knownCredentials.set(fresh.accessKeyId, fresh); // e.g. the grant propagated
        }
      });
      expect(between).toEqual({
        reason: `unknown access key ${fresh.accessKeyId}`,
        currentVersion: before.currentVersion,
        oldStillWorks: 1,
      });
      expect(stack.endpoint.stats.rejections.slice(before.rejectionsAt)).toEqual([
        { user: 'admin', reason: `unknown access key ${fresh.accessKeyId}` },
      ]);
      expect(result.attempts).toBe(2);
      expect(result.failures).toHaveLength(1);
      expect(result.failures[0].step).toBe('testSecret');
      expect(result.failures[0].message).toMatch(
        /testSecret: DSQL rejected the new token at localhost:\d+ as 'admin'.*dsql:DbConnectAdmin/,
      );
      errorTexts.push(result.failures[0].message);
      const current = await stack.readStage('AWSCURRENT');
      expect(tokenParams(current.password).params.get('X-Amz-Credential')).toMatch(new RegExp(`^${fresh.accessKeyId}/`));
      await expect(pgSelectOne(current.url, stack.endpoint.caFile)).resolves.toBe(1);
      expect(recorder.snapshot()).toEqual(oncePerService(stack.serviceArns));
      good = fresh; // known to the endpoint from now on
    });

    test('credentials the endpoint never accepts: every retry is refused, AWSPENDING blocks the next rotation until cleared', async () => {
      const unknown = newCredentials();
      signers.push(unknown);
      stack.signer = unknown;
      const { token } = await expectRefused({
        message: /testSecret: DSQL rejected the new token .*unable to accept connection, access denied/,
        reason: new RegExp(`^unknown access key ${unknown.accessKeyId}$`),
      });
      // Secrets Manager refuses a new rotation while AWSPENDING sits on another version.
      await expect(stack.rotate()).rejects.toThrow(/previous rotation isn't complete/);
      await abandonPending(stack, token);
      stack.signer = good;
      const result = await stack.rotate();
      expect(result.attempts).toBe(1);
    });
  });

  describe('(f) wrong tokens', () => {
    test('signed with credentials that have expired, an expiry the handler cannot see (Lambda env credentials carry none)', async () => {
      const expired: LocalCredentials = { ...newCredentials(), expiresAt: new Date(Date.now() - 60_000) };
      signers.push(expired);
      stack.knownCredentials.set(expired.accessKeyId, expired);
      stack.signer = expired;
      const { token } = await expectRefused({
        hook: ({ real }) => real({ env: { AWS_CREDENTIAL_EXPIRATION: '' } }),
        message: /DSQL rejected the new token/,
        reason: /^signing credentials expired at \d{4}-/,
      });
      await abandonPending(stack, token);
    });

    test('signed with credentials whose expiry the handler knows: refused by the handler itself, never presented', async () => {
      const expired: LocalCredentials = { ...newCredentials(), expiresAt: new Date(Date.now() - 60_000) };
      signers.push(expired);
      stack.knownCredentials.set(expired.accessKeyId, expired);
      stack.signer = expired;
      const { token, pending } = await expectRefused({ message: /testSecret: the pending token expired at/ });
      expect(pending.expiresAt).toBe(expired.expiresAt!.toISOString());
      // The endpoint would have refused it too.
      const rejectionsAt = stack.endpoint.stats.rejections.length;
      await expect(pgSelectOne(pending.url, stack.endpoint.caFile)).rejects.toThrow(/access denied/);
      expect(stack.endpoint.stats.rejections.slice(rejectionsAt)).toEqual([
        { user: 'admin', reason: `signing credentials expired at ${expired.expiresAt!.toISOString()}` },
      ]);
      await abandonPending(stack, token);
    });

    test('past its lifetime (TOKEN_LIFETIME_SECONDS=1): refused by the handler itself, and by the endpoint', async () => {
      const { token, pending } = await expectRefused({
        hook: async ({ step, attempt, real }) => {
          if (step === 'createSecret') return real({ config: { tokenLifetimeSeconds: 1 } });
          if (step === 'testSecret' && attempt === 1) {
            const wait = Date.parse((await stack.readStage('AWSPENDING')).expiresAt) + 100 - Date.now();
            if (wait > 0) await sleep(wait);
          }
          return real();
        },
        message: /testSecret: the pending token expired at/,
      });
      expect(tokenParams(pending.password).params.get('X-Amz-Expires')).toBe('1');
      expect(Date.parse(pending.expiresAt) - Date.parse(pending.issuedAt)).toBe(1000);
      const rejectionsAt = stack.endpoint.stats.rejections.length;
      await expect(pgSelectOne(pending.url, stack.endpoint.caFile)).rejects.toThrow(/access denied/);
      expect(stack.endpoint.stats.rejections.slice(rejectionsAt)).toEqual([
        { user: 'admin', reason: expect.stringMatching(/^token expired at \d{4}-/) },
      ]);
      await abandonPending(stack, token);
    });

    test('signed for the wrong region (DSQL_REGION=us-west-2)', async () => {
      const { token, pending } = await expectRefused({
        hook: ({ step, real }) => real(step === 'createSecret' ? { config: { region: 'us-west-2' } } : {}),
        message: /DSQL rejected the new token/,
        reason: /^token signed for region us-west-2, endpoint is us-east-1$/,
      });
      expect(tokenParams(pending.password).params.get('X-Amz-Credential')).toMatch(/\/us-west-2\/dsql\/aws4_request$/);
      await abandonPending(stack, token);
    });

    test("signed for another host name than the endpoint's (host 127.0.0.1)", async () => {
      const { token } = await expectRefused({
        hook: ({ step, real }) => real(step === 'createSecret' ? { config: { host: '127.0.0.1' } } : {}),
        message: /DSQL rejected the new token at 127\.0\.0\.1:/,
        reason: /^host mismatch: token signed for 127\.0\.0\.1, endpoint is localhost$/,
      });
      await abandonPending(stack, token);
    });

    test('signed with a wrong secret key for a known access key id', async () => {
      const stale: LocalCredentials = { accessKeyId: good.accessKeyId, secretAccessKey: newCredentials().secretAccessKey };
      signers.push(stale);
      stack.signer = stale;
      const { token } = await expectRefused({ message: /DSQL rejected the new token/, reason: /^signature mismatch$/ });
      await abandonPending(stack, token);
    });

    test('wrong action: a hand-edited pending value presents an admin (DbConnectAdmin) token for user app_rw', async () => {
      // The handler cannot produce this: token action and URL user both come from DSQL_USERNAME.
      const { token, pending } = await expectRefused({
        hook: async ({ step, token: versionId, attempt, real }) => {
          if (step !== 'createSecret' || attempt !== 1) return real();
          const current = await stack.readStage('AWSCURRENT');
          const crafted = {
            ...current,
            username: 'app_rw',
            url: current.url.replace('postgres://admin:', 'postgres://app_rw:'),
          };
          extraTokens.push(crafted.password);
          await stack.sm.send(
            new PutSecretValueCommand({
              SecretId: stack.secretArn,
              ClientRequestToken: versionId,
              SecretString: JSON.stringify(crafted),
              VersionStages: ['AWSPENDING'],
            }),
          );
        },
        message: /DSQL rejected the new token at localhost:\d+ as 'app_rw'.*dsql:DbConnect on the cluster and that the role was granted/,
        reason: /^wrong action DbConnectAdmin for user app_rw \(needs DbConnect\)$/,
        user: 'app_rw',
      });
      expect(tokenParams(pending.password).params.get('Action')).toBe('DbConnectAdmin');
      await abandonPending(stack, token);
    });
  });

  test('after every refusal was cleared, a plain rotation succeeds and its token authenticates', async () => {
    recorder.reset();
    const result = await stack.rotate();
    expect(result.attempts).toBe(1);
    expect(blockingPending(await stagesOf(stack))).toEqual([]);
    await expect(pgSelectOne((await stack.readStage('AWSCURRENT')).url, stack.endpoint.caFile)).resolves.toBe(1);
    expect(recorder.snapshot()).toEqual(oncePerService(stack.serviceArns));
  });

  test("no secret in the handler logs, the rotation errors or this process's output", async () => {
    const { leaks } = await findLeaks({
      stack,
      texts: { 'test process output': output.text(), 'rotation failure messages': errorTexts.join('\n') },
      secretAccessKeys: signers.map((s) => s.secretAccessKey),
      extraTokens,
    });
    expect(errorTexts.length).toBeGreaterThanOrEqual(8);
    expect(leaks).toEqual([]);
  });
});
