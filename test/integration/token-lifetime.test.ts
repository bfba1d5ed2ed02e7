/**
 * How long a URL lives depends on who signed its token, end to end with the shipped bundle:
 *
 * 1. A token signed with the rotation function's role session dies when that session ends, whatever
 *    its expiresIn says, and the function cannot see when that is (Lambda's environment credentials
 *    carry no expiry). A token signed with the access-key signer's IAM user key does not care.
 * 2. The watchdog (its own bundle) notices a URL that stopped authenticating, starts a rotation and
 *    says so in its metrics; the rotation heals it. It clears the AWSPENDING label of a failed rotation
 *    once stale and waits while a rotation is young.
 * 3. The access-key signer keeps exactly two keys: AWSCURRENT's and AWSPREVIOUS's. The key of the
 *    token two generations back is deleted (that token stops authenticating), and a rotation within
 *    rolloutAllowance of the last promotion is deferred: a no-op that keeps the URL and every key (the
 *    signer's refusal to delete AWSPREVIOUS's key is now a second line of defence, unit-tested).
 *
 * The DSQL-style endpoint enforces session expiry and accepts exactly the signer user's keys that exist
 * in moto IAM (LocalStack.syncSignerKeys). The watchdog runs as its own function (its own bundle,
 * assets/functions/watchdog, and its own role session); its RotateSecret call is played by the
 * rotate-secret interceptor (the real handler's four steps), and moto's ListSecretVersionIds is given
 * real creation dates (secret-version-dates-proxy.ts). Every test ends with the leak check of the
 * harness: handler logs, errors, watchdog results and this process's output hold no token, encoded
 * token, signature, session token or secret key.
 */
import { randomBytes, randomUUID } from 'crypto';
import { ListAccessKeysCommand } from '@aws-sdk/client-iam';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import { DsqlUrlSecretValue, METRICS_NAMESPACE, MetricName, SignerKeysValue } from '../../lib/contract';
import { DeferredTag, PromotedTag } from '../../lib/secret-tags';
import { previousTokenInUseSeconds } from '../../lib/timing';
import type { WatchdogResult } from '../../functions/watchdog';
import { functionConfigEnv, LOCAL_WATCHDOG_INTERVAL_SECONDS, LocalCredentials, LocalStack, newCredentials } from '../support/local-stack';
import { RotateSecretInterceptor, startRotateSecretInterceptor } from '../support/rotate-secret-interceptor';
import { RotationResult } from '../support/rotation-service';
import { pgSelectOne, tokenParams } from './clients';
import { blockingPending, captureOutput, findLeaks, logRecords, rotateWith, sleep, stagesOf, startStack } from './harness';
import { SecretVersionDatesProxy, startSecretVersionDatesProxy } from './secret-version-dates-proxy';

/** Short, so that waiting it out and acting within it both fit in a test. */
// Long enough that a rotation started right after a promotion still falls within it on a loaded machine.
const ROLLOUT_ALLOWANCE_SECONDS = 10;
/** Rotations within this of a promotion are deferred: the rollout, then the heal (the local stack's watchdog interval late). */
const DEFERRAL_SECONDS = previousTokenInUseSeconds({
  rolloutAllowanceSeconds: ROLLOUT_ALLOWANCE_SECONDS,
  watchdogIntervalSeconds: LOCAL_WATCHDOG_INTERVAL_SECONDS,
});
/** Small, so that a pending version goes stale within the test; ages are measured to the second. */
const STALE_PENDING_SECONDS = 3;
const ROTATE_BEFORE_EXPIRY_SECONDS = 600;
const TOKEN_LIFETIME_SECONDS = 8 * 3600;
const METRIC_DIMENSION = 'token-lifetime-test';
/** Lambda's environment credentials carry no expiry: the handler must not be told (handlerEnv would). */
const AS_IN_LAMBDA = { AWS_CREDENTIAL_EXPIRATION: '' };

/** An assumed-role session like a Lambda function's: ASIA key id, session token, an expiry only AWS knows. */
function newSession(): LocalCredentials {
  const { accessKeyId, secretAccessKey } = newCredentials();
  return {
    accessKeyId: accessKeyId.replace(/^AKIA/, 'ASIA'),
    secretAccessKey,
    sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(200).toString('base64')}`,
    expiresAt: new Date(Date.now() + 3600_000),
  };
}

/** The access key id in a token's X-Amz-Credential. */
function keyIdOf(token: string): string {
  return tokenParams(token).params.get('X-Amz-Credential')!.split('/')[0];
}

/** Whether the URL authenticates and runs SELECT 1, and the endpoint's reason when it does not. */
async function probe(stack: LocalStack, url: string): Promise<{ ok: true } | { ok: false; reasons: string[] }> {
  await stack.syncSignerKeys();
  const at = stack.endpoint.stats.rejections.length;
  try {
    expect(await pgSelectOne(url, stack.endpoint.caFile)).toBe(1);
    return { ok: true };
  } catch (err) {
    expect((err as Error).message).toMatch(/access denied/);
    return { ok: false, reasons: stack.endpoint.stats.rejections.slice(at).map((r) => r.reason) };
  }
}

describe('token lifetime: who signs decides how long a URL lives', () => {
  let roleStack: LocalStack;
  let keyStack: LocalStack;
  /** Plays Secrets Manager's rotation (the real handler's four steps) when the watchdog calls RotateSecret. */
  let interceptor: RotateSecretInterceptor;
  let datesProxy: SecretVersionDatesProxy;
  let output: ReturnType<typeof captureOutput>;
  /** Secret access keys and session tokens of every role session used (the signer user's keys are read from its secret). */
  const sessionSecrets: string[] = [];
  /** Error messages and watchdog results: they must not carry a secret either. */
  const texts: string[] = [];
  /** The watchdog function's own role session (it never signs a token). */
  const watchdogSession = newSession();

  const useSession = (stack: LocalStack, session: LocalCredentials) => {
    sessionSecrets.push(session.secretAccessKey, session.sessionToken!);
    stack.knownCredentials.set(session.accessKeyId, session);
    stack.signer = session;
  };

  /** Ends a session now (its expiry is only known to the endpoint, as to AWS) and returns when. */
  const endSession = async (session: LocalCredentials): Promise<Date> => {
    session.expiresAt = new Date(Date.now() + 200);
    await sleep(300);
    return session.expiresAt;
  };

  const rotate = (stack: LocalStack, maxAttempts?: number): Promise<RotationResult> =>
    rotateWith(stack, ({ real }) => real({ env: AS_IN_LAMBDA }), maxAttempts);

  beforeAll(async () => {
    output = captureOutput();
    sessionSecrets.push(watchdogSession.secretAccessKey, watchdogSession.sessionToken!);
    [roleStack, keyStack] = await Promise.all([
      startStack({ services: 1, tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS }),
      startStack({
        services: 1,
        tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS,
        accessKeySigner: { rolloutAllowanceSeconds: ROLLOUT_ALLOWANCE_SECONDS },
      }),
    ]);
    // watchdog -> interceptor (RotateSecret) -> dates proxy (ListSecretVersionIds) -> fault proxy -> moto
    datesProxy = await startSecretVersionDatesProxy({ upstream: roleStack.proxy.endpoint, sm: roleStack.sm });
    interceptor = await startRotateSecretInterceptor({
      upstream: datesProxy.endpoint,
      sm: roleStack.sm,
      // The rotation function's next invocation: whatever session `signer` holds then.
      invokeStep: (step, token) => roleStack.invokeStep(step, token, { env: AS_IN_LAMBDA }),
    });
  }, 60_000);

  afterAll(async () => {
    output?.restore();
    await interceptor?.stop();
    await datesProxy?.stop();
    await Promise.all([roleStack?.stop(), keyStack?.stop()]);
  });

  /** Every access key the signer user ever had, secret part included, from every version of its keys secret. */
  async function signerKeySecrets(stack: LocalStack): Promise<string[]> {
    if (stack.accessKeySigner === undefined) return [];
    const id = stack.accessKeySigner.keysSecretArn;
    const versions = (await stack.sm.send(new ListSecretVersionIdsCommand({ SecretId: id, IncludeDeprecated: true }))).Versions ?? [];
    const secrets: string[] = [];
    for (const v of versions) {
      const out = await stack.sm.send(new GetSecretValueCommand({ SecretId: id, VersionId: v.VersionId }));
      secrets.push(...(JSON.parse(out.SecretString!) as SignerKeysValue).keys.map((k) => k.secretAccessKey));
    }
    return secrets;
  }

  async function expectNoLeaks(stack: LocalStack): Promise<void> {
    const keys = await signerKeySecrets(stack);
    const { leaks, secretsChecked, bytesChecked } = await findLeaks({
      stack,
      texts: { 'test process output': output.text(), 'error messages and watchdog results': texts.join('\n') },
      // Session tokens are secrets too; findLeaks reports them under the same label.
      secretAccessKeys: [...sessionSecrets, ...keys],
    });
    expect(leaks).toEqual([]);
    expect(secretsChecked).toBeGreaterThan(4);
    expect(bytesChecked).toBeGreaterThan(1000);
  }

  describe('(1) session expiry', () => {
    test('an access-key-signed URL outlives the role session of the function that signed it; a role-signed URL dies with it', async () => {
      // Both rotation functions run with the same role session; only the role signer signs with it.
      const session = newSession();
      useSession(roleStack, session);
      useSession(keyStack, session);
      await Promise.all([rotate(roleStack), rotate(keyStack)]);
      const [byRole, byKey] = await Promise.all([roleStack.readStage('AWSCURRENT'), keyStack.readStage('AWSCURRENT')]);

      // The role-signed token carries the session; the handler could not see its end, so expiresAt claims the full lifetime.
      expect(keyIdOf(byRole.password)).toBe(session.accessKeyId);
      expect(tokenParams(byRole.password).params.get('X-Amz-Security-Token')).toBe(session.sessionToken);
      expect(Date.parse(byRole.expiresAt) - Date.parse(byRole.issuedAt)).toBe(TOKEN_LIFETIME_SECONDS * 1000);
      // The key-signed token is signed by the signer user's long-term key: no session in it.
      const [userKey] = (await keyStack.iam.send(new ListAccessKeysCommand({ UserName: keyStack.accessKeySigner!.userName })))
        .AccessKeyMetadata!;
      expect(keyIdOf(byKey.password)).toBe(userKey.AccessKeyId);
      expect(keyIdOf(byKey.password)).toMatch(/^AKIA/);
      expect(tokenParams(byKey.password).params.has('X-Amz-Security-Token')).toBe(false);
      expect(Date.parse(byKey.expiresAt) - Date.parse(byKey.issuedAt)).toBe(TOKEN_LIFETIME_SECONDS * 1000);

      expect(await probe(roleStack, byRole.url)).toEqual({ ok: true });
      expect(await probe(keyStack, byKey.url)).toEqual({ ok: true });

      const ended = await endSession(session);
      expect(await probe(roleStack, byRole.url)).toEqual({ ok: false, reasons: [`signing credentials expired at ${ended.toISOString()}`] });
      expect(await probe(keyStack, byKey.url)).toEqual({ ok: true });
      // Both still claim hours of life: only the access-key one keeps the promise.
      for (const v of [byRole, byKey])
        expect(Date.parse(v.expiresAt) - Date.now()).toBeGreaterThan(TOKEN_LIFETIME_SECONDS * 1000 - 120_000);

      await expectNoLeaks(roleStack);
      await expectNoLeaks(keyStack);
    });
  });

  describe('(2) the watchdog', () => {
    interface WatchdogRun {
      result: WatchdogResult;
      metrics: Record<string, number>;
      /** The endpoint's refusals during the run (the watchdog's own connection check). */
      rejections: string[];
      /** Rotations the watchdog started with RotateSecret, finished (played by the interceptor). */
      rotations: RotateSecretInterceptor['rotations'];
      /** `LEVEL message` of its log records, metrics line left out. */
      messages: string[];
    }

    /** One scheduled run of the watchdog function with the environment the construct gives it (lib/watchdog.ts). */
    async function runWatchdog(): Promise<WatchdogRun> {
      const rejectionsAt = roleStack.endpoint.stats.rejections.length;
      const rotationsAt = interceptor.rotations.length;
      const out = await roleStack.invokeFunction(
        'watchdog',
        { source: 'aws.scheduler', 'detail-type': 'Scheduled Event', detail: {} },
        {
          awsOnly: true,
          timeoutMs: 30_000,
          env: {
            ...functionConfigEnv({
              secretArn: roleStack.secretArn,
              rotateBeforeExpirySeconds: ROTATE_BEFORE_EXPIRY_SECONDS,
              stalePendingSeconds: STALE_PENDING_SECONDS,
              metricDimension: METRIC_DIMENSION,
              connectTimeoutSeconds: 5,
              boundServicesParameter: roleStack.parameterName,
              boundServicesParameterCount: 1,
              boundServicesFingerprint: 'local-stack',
              boundFunctionsParameter: roleStack.functionsParameterName,
              boundFunctionsParameterCount: 1,
              rolloutAllowanceSeconds: 0,
              redeployConcurrency: 5,
            }),
            // Its own role session; AWS calls go through the interceptor.
            AWS_ACCESS_KEY_ID: watchdogSession.accessKeyId,
            AWS_SECRET_ACCESS_KEY: watchdogSession.secretAccessKey,
            AWS_SESSION_TOKEN: watchdogSession.sessionToken!,
            AWS_CREDENTIAL_EXPIRATION: '',
            AWS_ENDPOINT_URL: interceptor.endpoint,
          },
        },
      );
      if (!out.ok) throw new Error(`watchdog failed: ${out.error.name}: ${out.error.message}`);
      const rejections = roleStack.endpoint.stats.rejections.slice(rejectionsAt).map((r) => r.reason);
      // The rotation it started (if any) runs on in the background, as on AWS: let it finish.
      await interceptor.idle();
      const rotations = interceptor.rotations.slice(rotationsAt);
      texts.push(JSON.stringify(out.result), ...rotations.map((r) => r.error?.message ?? ''));

      const records = logRecords([out.logs]);
      // The token check's document; the fleet check's (no bound service here) comes after it.
      const emf = records.filter((r) => r._aws !== undefined && MetricName.TOKEN_CHECK_FAILED in r);
      expect(emf).toHaveLength(1);
      expect(records.filter((r) => r._aws !== undefined && MetricName.STALE_TASKS in r)).toEqual([
        expect.objectContaining({ Secret: METRIC_DIMENSION, [MetricName.STALE_TASKS]: 0, [MetricName.FLEET_HEALS_STARTED]: 0 }),
      ]);
      const [doc] = emf as Array<
        Record<string, unknown> & { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> } }
      >;
      expect(doc._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: METRICS_NAMESPACE, Dimensions: [['Secret']] });
      expect(doc.Secret).toBe(METRIC_DIMENSION);
      return {
        result: out.result as WatchdogResult,
        metrics: Object.fromEntries(Object.values(MetricName).map((name) => [name, doc[name] as number])),
        rejections,
        rotations,
        // The token check's lines; the fleet check's summary (no bound service) is checked through its metrics above.
        messages: records
          .filter((r) => r._aws === undefined && !String(r.message).startsWith('fleet check:'))
          .map((r) => `${String(r.level)} ${String(r.message)}`),
      };
    }

    const expectHealthy = (run: WatchdogRun) => {
      expect(run.result).toMatchObject({
        action: 'none',
        connected: true,
        rotationStarted: false,
        rotationInProgress: false,
        clearedPendingVersions: [],
      });
      expect(run.result.secondsLeft).toBeGreaterThan(TOKEN_LIFETIME_SECONDS - 120);
      expect(run.metrics).toEqual({
        [MetricName.TOKEN_CHECK_FAILED]: 0,
        [MetricName.TOKEN_SECONDS_LEFT]: run.result.secondsLeft,
        [MetricName.WATCHDOG_ROTATION_STARTED]: 0,
      });
      expect(run.rejections).toEqual([]);
      expect(run.rotations).toEqual([]);
      expect(run.messages).toEqual(['INFO watchdog: decision']);
    };

    /** The rotation the watchdog started succeeded at once and its AWSCURRENT authenticates, signed by `session`. */
    const expectHealedBy = async (run: WatchdogRun, session: LocalCredentials) => {
      expect(run.rotations).toHaveLength(1);
      const [rotation] = run.rotations;
      expect(rotation.secretId).toBe(roleStack.secretArn);
      expect(rotation.error).toBeUndefined();
      expect(rotation.result).toMatchObject({ attempts: 1, failures: [] });
      expect((await stagesOf(roleStack))[rotation.result!.versionId]).toEqual(['AWSCURRENT']);
      const current = await roleStack.readStage('AWSCURRENT');
      expect(keyIdOf(current.password)).toBe(session.accessKeyId);
      expect(await probe(roleStack, current.url)).toEqual({ ok: true });
    };

    test('healthy, then the session that signed the URL ends: the watchdog starts a rotation, which heals it', async () => {
      useSession(roleStack, newSession());
      await rotate(roleStack);
      expectHealthy(await runWatchdog());

      const ended = await endSession(roleStack.signer);
      // The rotation function's next invocation runs with a new session (Lambda refreshes it).
      const next = newSession();
      useSession(roleStack, next);
      const dead = await runWatchdog();
      expect(dead.result).toMatchObject({
        action: 'rotate',
        reason: 'the current URL does not authenticate',
        connected: false,
        rotationStarted: true,
        rotationInProgress: false,
      });
      expect(dead.metrics).toEqual({
        [MetricName.TOKEN_CHECK_FAILED]: 1,
        [MetricName.TOKEN_SECONDS_LEFT]: dead.result.secondsLeft,
        [MetricName.WATCHDOG_ROTATION_STARTED]: 1,
      });
      // expiresAt still promises hours: only the connection shows that the URL is dead.
      expect(dead.result.secondsLeft).toBeGreaterThan(ROTATE_BEFORE_EXPIRY_SECONDS);
      expect(dead.rejections).toEqual([`signing credentials expired at ${ended.toISOString()}`]);
      expect(dead.messages).toEqual(['WARN watchdog: decision']);
      await expectHealedBy(dead, next);

      expectHealthy(await runWatchdog());
      await expectNoLeaks(roleStack);
    });

    test('a young AWSPENDING makes it wait without RotateSecret; once stale, it is cleared and a rotation starts', async () => {
      useSession(roleStack, newSession());
      await rotate(roleStack);
      await endSession(roleStack.signer);
      const next = newSession();
      useSession(roleStack, next);
      // A rotation in progress: its version carries AWSPENDING.
      const pendingVersion = randomUUID();
      await roleStack.sm.send(
        new PutSecretValueCommand({
          SecretId: roleStack.secretArn,
          ClientRequestToken: pendingVersion,
          VersionStages: ['AWSPENDING'],
          SecretString: JSON.stringify({ url: '', password: '' }),
        }),
      );
      const createdAt = (await roleStack.sm.send(new GetSecretValueCommand({ SecretId: roleStack.secretArn, VersionId: pendingVersion })))
        .CreatedDate!;

      const callsAt = interceptor.calls.length;
      const young = await runWatchdog();
      expect(young.result).toMatchObject({
        action: 'wait',
        connected: false,
        rotationInProgress: true,
        rotationStarted: false,
        clearedPendingVersions: [],
      });
      expect(young.result.reason).toMatch(/does not authenticate; a rotation is already in progress$/);
      expect(young.metrics[MetricName.TOKEN_CHECK_FAILED]).toBe(1);
      expect(young.metrics[MetricName.WATCHDOG_ROTATION_STARTED]).toBe(0);
      expect(interceptor.calls.slice(callsAt)).not.toContain('RotateSecret');
      expect(young.rotations).toEqual([]);
      expect(young.messages).toEqual(['WARN watchdog: decision']);
      expect(blockingPending(await stagesOf(roleStack))).toEqual([pendingVersion]);

      // Older than STALE_PENDING_SECONDS: a failed rotation, which blocks every later one.
      await sleep(createdAt.getTime() + (STALE_PENDING_SECONDS + 1.5) * 1000 - Date.now());
      const stale = await runWatchdog();
      expect(stale.result).toMatchObject({
        action: 'rotate',
        connected: false,
        rotationInProgress: false,
        rotationStarted: true,
        clearedPendingVersions: [pendingVersion],
      });
      expect(stale.metrics[MetricName.TOKEN_CHECK_FAILED]).toBe(1);
      expect(stale.metrics[MetricName.WATCHDOG_ROTATION_STARTED]).toBe(1);
      expect(stale.messages).toEqual([
        'WARN watchdog: removed AWSPENDING from the version of a rotation that failed; it blocked every later rotation',
        'WARN watchdog: decision',
      ]);
      // Cleared before RotateSecret, which would otherwise have been refused: the rotation ran and healed the URL.
      await expectHealedBy(stale, next);
      expect((await stagesOf(roleStack))[pendingVersion]).toBeUndefined();

      expectHealthy(await runWatchdog());
      await expectNoLeaks(roleStack);
    });
  });

  describe('(3) access-key generations', () => {
    const userKeys = async () =>
      ((await keyStack.iam.send(new ListAccessKeysCommand({ UserName: keyStack.accessKeySigner!.userName }))).AccessKeyMetadata ?? [])
        .map((k) => k.AccessKeyId!)
        .sort();
    const storedKeys = async () => {
      const out = await keyStack.sm.send(
        new GetSecretValueCommand({ SecretId: keyStack.accessKeySigner!.keysSecretArn, VersionStage: 'AWSCURRENT' }),
      );
      return (JSON.parse(out.SecretString!) as SignerKeysValue).keys;
    };
    /** When AWSCURRENT was promoted, from the tag finishSecret writes. */
    const promotedAt = async () => {
      const d = await keyStack.sm.send(new DescribeSecretCommand({ SecretId: keyStack.secretArn }));
      return Date.parse(d.Tags!.find((t) => t.Key === PromotedTag.key)!.Value!.split(' ')[1]);
    };

    /** Whether the secret has a promotion tag (finishSecret of a real rotation writes it). */
    const promoted = async () =>
      ((await keyStack.sm.send(new DescribeSecretCommand({ SecretId: keyStack.secretArn }))).Tags ?? []).some(
        (t) => t.Key === PromotedTag.key,
      );

    /**
     * Rotates, first waiting out the deferral window since the last promotion (a rotation within it is
     * deferred: a no-op). Returns the new AWSCURRENT and whether it waited.
     */
    async function rotateWhenAllowed(): Promise<{ versionId: string; value: DsqlUrlSecretValue; waited: boolean }> {
      let waited = false;
      if (await promoted()) {
        const wait = (await promotedAt()) + DEFERRAL_SECONDS * 1000 + 250 - Date.now();
        if (wait > 0) {
          await sleep(wait);
          waited = true;
        }
      }
      const { versionId } = await rotate(keyStack);
      return { versionId, value: await keyStack.readStage('AWSCURRENT'), waited };
    }

    test(
      'two generations back is refused (its key is deleted); AWSPREVIOUS and AWSCURRENT work; a rotation within the deferral window is ' +
        'deferred',
      async () => {
        // The function runs with a live role session (test 1 ended the last one); it signs nothing with it.
        useSession(keyStack, newSession());
        const r1 = await rotateWhenAllowed();
        const r2 = await rotateWhenAllowed();
        const r3 = await rotateWhenAllowed();
        // r3 deletes r1's key, which AWSPREVIOUS's token uses: allowed only once the deferral window (2 x rolloutAllowance +
        // watchdogInterval) has passed since r2's promotion.
        expect(r3.waited).toBe(true);
        const [k1, k2, k3] = [r1, r2, r3].map((r) => keyIdOf(r.value.password));
        expect(new Set([k1, k2, k3]).size).toBe(3);

        const stages = await stagesOf(keyStack);
        expect(stages[r3.versionId]).toEqual(['AWSCURRENT']);
        expect(stages[r2.versionId]).toEqual(['AWSPREVIOUS']);
        expect(await probe(keyStack, r1.value.url)).toEqual({ ok: false, reasons: [`unknown access key ${k1}`] });
        expect(await probe(keyStack, r2.value.url)).toEqual({ ok: true });
        expect(await probe(keyStack, r3.value.url)).toEqual({ ok: true });

        expect(await userKeys()).toEqual([k2, k3].sort());
        const stored = await storedKeys();
        expect(
          stored
            .map((k) => ({ accessKeyId: k.accessKeyId, versionId: k.versionId }))
            .sort((a, b) => a.accessKeyId.localeCompare(b.accessKeyId)),
        ).toEqual(
          [
            { accessKeyId: k2, versionId: r2.versionId },
            { accessKeyId: k3, versionId: r3.versionId },
          ].sort((a, b) => a.accessKeyId.localeCompare(b.accessKeyId)),
        );

        // Right away again: within the deferral window of r3's promotion. Rotating for real would delete k2, which
        // tasks not yet replaced still use: the rotation is deferred instead, a no-op that keeps r3's URL and
        // every key, redeploys nothing, and tags when the watchdog may rotate.
        const r3PromotedAt = await promotedAt();
        const deferredUntil = new Date(r3PromotedAt + DEFERRAL_SECONDS * 1000);
        const logsBefore = keyStack.handlerLogs.length;
        const noOp = await rotate(keyStack, 1);
        expect(Date.now()).toBeLessThan(deferredUntil.getTime()); // else this run was too slow to test the deferral
        const after = await stagesOf(keyStack);
        expect(after[noOp.versionId]).toContain('AWSCURRENT');
        expect(after[r3.versionId]).toEqual(['AWSPREVIOUS']);
        expect(blockingPending(after)).toEqual([]);
        const current = await keyStack.readStage('AWSCURRENT');
        expect(current.password === r3.value.password).toBe(true);
        expect(await userKeys()).toEqual([k2, k3].sort());
        expect(await storedKeys()).toEqual(stored);
        const tags = Object.fromEntries(
          ((await keyStack.sm.send(new DescribeSecretCommand({ SecretId: keyStack.secretArn }))).Tags ?? []).map((t) => [t.Key, t.Value]),
        );
        expect(tags[DeferredTag.key]).toBe(`${noOp.versionId} ${deferredUntil.toISOString()}`);
        expect(tags[PromotedTag.key]).toBe(`${r3.versionId} ${new Date(r3PromotedAt).toISOString()}`);
        const newLogs = keyStack.handlerLogs.slice(logsBefore).join('\n');
        expect(newLogs).toContain('createSecret: rotation deferred');
        expect(newLogs).toContain('finishSecret: deferred rotation (same URL as the previous version): no redeploy');
        expect(await probe(keyStack, current.url)).toEqual({ ok: true });
        expect(await probe(keyStack, r2.value.url)).toEqual({ ok: true });

        await expectNoLeaks(keyStack);
      },
      // Three rotations, two of them after waiting out the deferral window, and the deferred one.
      180_000,
    );
  });
});
