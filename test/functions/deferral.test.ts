/**
 * A rotation within the rollout and heal window of the last promotion
 * (2 x rolloutAllowance + watchdogInterval, lib/timing.ts) is deferred: a
 * no-op (AWSCURRENT's value again as AWSPENDING, a deferral tag), promoted
 * without a redeploy; a real rotation clears the tag; the watchdog rotates
 * once the deferral ends.
 */
import 'aws-sdk-client-mock-jest';
import { ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { CreateAccessKeyCommand, DeleteAccessKeyCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { PutSecretValueCommand, SecretsManagerClient, TagResourceCommand, UntagResourceCommand } from '@aws-sdk/client-secrets-manager';
import { SSMClient, GetParametersCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { DsqlUrlSecretValue, MetricName } from '../../lib/contract';
import { DeferredTag, PromotedTag } from '../../lib/secret-tags';
import { previousTokenInUseSeconds, SAFETY_MARGIN_SECONDS } from '../../lib/timing';
import { checkConnection } from '../../functions/connection-check';
import { decideDeferral } from '../../functions/deferral';
import { handler } from '../../functions/rotation-handler';
import { decideWatchdogAction } from '../../functions/watchdog-decision';
import { OLD_VERSION, SECRET_ARN, serviceArn, TOKEN } from './fixtures';
import { accessKeySignerConfig, handlerEnv, setEnv } from './fixtures-config';
import { boundServices, FakeEcs } from './fixtures-ecs';
import { FakeIam, newFakeAccessKey } from './fixtures-iam';
import { FakeSecretsManager, promotedTag } from './fixtures-secrets-manager';
import { valueSignedWith } from './fixtures-tokens';

jest.mock('../../functions/connection-check');
const checkConnectionMock = jest.mocked(checkConnection);

const smMock = mockClient(SecretsManagerClient);
const iamMock = mockClient(IAMClient);
const ecsMock = mockClient(ECSClient);
const ssmMock = mockClient(SSMClient);

const ALLOWANCE = 1800;
/** The fixture configuration's watchdogIntervalSeconds. */
const WATCHDOG_INTERVAL = 300;
/** The rollout (rolloutAllowance), then the heal of a stuck one: noticed up to one watchdog interval later, its own rollout. */
const WINDOW = ALLOWANCE + WATCHDOG_INTERVAL + ALLOWANCE;
const PREVIOUS_VERSION = '77777777-6666-4555-8444-333333333333';
const SERVICE = serviceArn('cluster', 'api');
const event = (Step: string, ClientRequestToken = TOKEN) => ({ Step, SecretId: SECRET_ARN, ClientRequestToken });

let restoreEnv: () => void;
let logSpy: jest.SpyInstance;
beforeEach(() => {
  [smMock, iamMock, ecsMock, ssmMock].forEach((m) => m.reset());
  // No Lambda function is bound: the bound-functions parameter does not exist.
  ssmMock.on(GetParametersCommand).resolves({ Parameters: [] });
  checkConnectionMock.mockReset();
  checkConnectionMock.mockResolvedValue(undefined);
  restoreEnv = setEnv(handlerEnv({ rolloutAllowanceSeconds: ALLOWANCE }));
  logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => {
  restoreEnv();
  jest.restoreAllMocks();
});
afterAll(() => [smMock, iamMock, ecsMock, ssmMock].forEach((m) => m.restore()));

function logRecords(): Array<Record<string, unknown>> {
  return logSpy.mock.calls.map((args) => JSON.parse(String(args[0])) as Record<string, unknown>);
}

/**
 * AWSCURRENT (OLD_VERSION) signed by `key`, promoted `promotedSecondsAgo`
 * ago, AWSPREVIOUS signed by `previousKey`, AWSPENDING on TOKEN, one bound
 * service.
 */
async function givenSecret(promotedSecondsAgo: number, opts: { current?: DsqlUrlSecretValue } = {}) {
  const previousKey = newFakeAccessKey();
  const key = newFakeAccessKey();
  const sm = new FakeSecretsManager();
  sm.versions.clear();
  sm.setVersion(PREVIOUS_VERSION, ['AWSPREVIOUS'], await valueSignedWith(previousKey, new Date(Date.now() - 4 * 3600_000)));
  const current = opts.current ?? (await valueSignedWith(key, new Date(Date.now() - promotedSecondsAgo * 1000)));
  sm.setVersion(OLD_VERSION, ['AWSCURRENT'], current);
  sm.setVersion(TOKEN, ['AWSPENDING']);
  const promotedAt = new Date(Date.now() - promotedSecondsAgo * 1000);
  for (const [k, v] of Object.entries(promotedTag(OLD_VERSION, promotedAt))) sm.tags.set(k, v);
  sm.keysValue = JSON.stringify({
    keys: [
      { ...previousKey, versionId: PREVIOUS_VERSION, createdAt: new Date(Date.now() - 4 * 3600_000).toISOString() },
      { ...key, versionId: OLD_VERSION, createdAt: promotedAt.toISOString() },
    ],
  });
  sm.install(smMock);
  const iam = new FakeIam().add(previousKey, key);
  iam.install(iamMock);
  const ecs = new FakeEcs().add(SERVICE);
  ecs.install(ecsMock);
  boundServices(ssmMock, [SERVICE]);
  return { sm, iam, ecs, current, promotedAt, previousKey, key };
}

const valueOf = (sm: FakeSecretsManager, id: string) => sm.versions.get(id)?.value;

test('the window is lib/timing.ts previousTokenInUseSeconds', () => {
  expect(previousTokenInUseSeconds({ rolloutAllowanceSeconds: ALLOWANCE, watchdogIntervalSeconds: WATCHDOG_INTERVAL })).toBe(WINDOW);
});

describe('createSecret within the rollout and heal window of the last promotion', () => {
  test.each([
    ['role', {}],
    ['access-key', accessKeySignerConfig(ALLOWANCE)],
  ])("%s signer: stores AWSCURRENT's value again and tags the deferral; no key is touched", async (_signer, signer) => {
    setEnv(handlerEnv({ rolloutAllowanceSeconds: ALLOWANCE, ...signer }));
    const { sm, iam, promotedAt } = await givenSecret(600);
    const keysBefore = sm.keysValue;
    const idsBefore = iam.ids();

    await handler(event('createSecret'));

    expect(valueOf(sm, TOKEN)).toBe(valueOf(sm, OLD_VERSION));
    expect(sm.stagesOf(TOKEN)).toEqual(['AWSPENDING']);
    // The deferral names the version that holds the copy, and when the real rotation may run.
    expect(sm.tags.get(DeferredTag.key)).toBe(`${TOKEN} ${new Date(promotedAt.getTime() + WINDOW * 1000).toISOString()}`);
    expect(sm.tags.get(PromotedTag.key)).toBe(`${OLD_VERSION} ${promotedAt.toISOString()}`);
    expect(iamMock).not.toHaveReceivedCommand(ListAccessKeysCommand);
    expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(iamMock).not.toHaveReceivedCommand(CreateAccessKeyCommand);
    expect(iam.ids()).toEqual(idsBefore);
    expect(sm.keysValue).toBe(keysBefore);
    // It checked that the current URL still authenticates, and said why it deferred.
    expect(checkConnectionMock).toHaveBeenCalledTimes(1);
    const deferred = logRecords().find((r) => String(r.message).startsWith('createSecret: rotation deferred'));
    expect(deferred).toMatchObject({ level: 'WARN', deferredUntil: new Date(promotedAt.getTime() + WINDOW * 1000).toISOString() });
    expect(String(deferred?.reason)).toContain(
      `2 x rolloutAllowance (${ALLOWANCE} s) + watchdogInterval (${WATCHDOG_INTERVAL} s) after it) a new rollout would supersede`,
    );
  });

  test('past rolloutAllowance but within the heal window: still deferred, until the window ends', async () => {
    const { sm, promotedAt } = await givenSecret(ALLOWANCE + WATCHDOG_INTERVAL);
    await handler(event('createSecret'));
    expect(valueOf(sm, TOKEN)).toBe(valueOf(sm, OLD_VERSION));
    expect(sm.tags.get(DeferredTag.key)).toBe(`${TOKEN} ${new Date(promotedAt.getTime() + WINDOW * 1000).toISOString()}`);
  });

  test.each([
    ['role', {}],
    ['access-key', accessKeySignerConfig(ALLOWANCE)],
  ])('%s signer: after the window a new token is minted', async (_signer, signer) => {
    setEnv(handlerEnv({ rolloutAllowanceSeconds: ALLOWANCE, ...signer }));
    const { sm } = await givenSecret(WINDOW + 1);

    await handler(event('createSecret'));

    const pending = JSON.parse(valueOf(sm, TOKEN)!) as DsqlUrlSecretValue;
    expect(pending.password).not.toBe((JSON.parse(valueOf(sm, OLD_VERSION)!) as DsqlUrlSecretValue).password);
    expect(sm.tags.has(DeferredTag.key)).toBe(false);
    expect(smMock).not.toHaveReceivedCommandWith(TagResourceCommand, { Tags: [expect.objectContaining({ Key: DeferredTag.key })] });
  });

  test('rolloutAllowance 0 never defers', async () => {
    setEnv(handlerEnv({ rolloutAllowanceSeconds: 0 }));
    const { sm } = await givenSecret(5);
    await handler(event('createSecret'));
    expect(valueOf(sm, TOKEN)).not.toBe(valueOf(sm, OLD_VERSION));
    expect(sm.tags.has(DeferredTag.key)).toBe(false);
    expect(checkConnectionMock).not.toHaveBeenCalled();
  });

  test('a current URL that does not authenticate is replaced at once (a rescue is never deferred)', async () => {
    checkConnectionMock.mockRejectedValue(Object.assign(new Error('testSecret: DSQL refused the token'), { kind: 'auth' }));
    const { sm } = await givenSecret(60);
    await handler(event('createSecret'));
    expect(valueOf(sm, TOKEN)).not.toBe(valueOf(sm, OLD_VERSION));
    expect(sm.tags.has(DeferredTag.key)).toBe(false);
  });

  test("a current token that would expire before the deferred rotation's rollout and heal end is replaced at once", async () => {
    const key = newFakeAccessKey();
    const base = await valueSignedWith(key);
    // The deferred rotation runs up to one watchdog interval after the window, takes up to the margin, and the token must
    // then outlive the window again: this one expires 10 minutes sooner.
    const promotedAt = Date.now() - 60_000;
    const needed = WINDOW + WATCHDOG_INTERVAL + SAFETY_MARGIN_SECONDS + WINDOW;
    const current = { ...base, expiresAt: new Date(promotedAt + (needed - 600) * 1000).toISOString() };
    const { sm } = await givenSecret(60, { current });
    await handler(event('createSecret'));
    expect(valueOf(sm, TOKEN)).not.toBe(valueOf(sm, OLD_VERSION));
    expect(checkConnectionMock).not.toHaveBeenCalled();
  });

  test('a current URL for another role (the configuration changed) is replaced at once', async () => {
    const key = newFakeAccessKey();
    const current = { ...(await valueSignedWith(key)), username: 'app_rw' };
    const { sm } = await givenSecret(60, { current });
    await handler(event('createSecret'));
    expect(valueOf(sm, TOKEN)).not.toBe(valueOf(sm, OLD_VERSION));
  });

  test.each([
    ['URL parameters', { urlQuery: 'sslmode=verify-full&application_name=api' }],
    ['no URL parameters', { urlQuery: '' }],
    ['database', { database: 'orders' }],
  ])('a current URL made before a change of %s is replaced at once, with the new settings', async (_what, change) => {
    setEnv(handlerEnv({ rolloutAllowanceSeconds: ALLOWANCE, ...change }));
    const { sm } = await givenSecret(60);
    await handler(event('createSecret'));
    const pending = JSON.parse(valueOf(sm, TOKEN)!) as DsqlUrlSecretValue;
    expect(valueOf(sm, TOKEN)).not.toBe(valueOf(sm, OLD_VERSION));
    expect(sm.tags.has(DeferredTag.key)).toBe(false);
    if ('urlQuery' in change) expect(pending.url.endsWith(change.urlQuery === '' ? '/postgres' : `?${change.urlQuery}`)).toBe(true);
    if ('database' in change) expect(pending.dbname).toBe(change.database);
    const skipped = logRecords().find((r) => r.message === 'createSecret: not deferring this rotation');
    expect(String(skipped?.reason)).toContain('not for the configured endpoint, role, database and URL parameters');
  });
});

describe('finishSecret', () => {
  test('of a deferred (no-op) rotation: promotes without tagging the promotion or redeploying', async () => {
    const { sm, promotedAt, ecs } = await givenSecret(600);
    const deploymentsBefore = JSON.stringify(ecs.services.get(SERVICE)!.deployments);
    await handler(event('createSecret'));
    logSpy.mockClear();

    await handler(event('testSecret'));
    await handler(event('finishSecret'));

    expect(sm.stagesOf(TOKEN)).toContain('AWSCURRENT');
    expect(sm.stagesOf(OLD_VERSION)).toEqual(['AWSPREVIOUS']);
    // The real promotion time stays; the deferral stays for the watchdog.
    expect(sm.tags.get(PromotedTag.key)).toBe(`${OLD_VERSION} ${promotedAt.toISOString()}`);
    expect(sm.tags.get(DeferredTag.key)).toBe(`${TOKEN} ${new Date(promotedAt.getTime() + WINDOW * 1000).toISOString()}`);
    expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
    expect(JSON.stringify(ecs.services.get(SERVICE)!.deployments)).toBe(deploymentsBefore);
    expect(smMock).not.toHaveReceivedCommand(UntagResourceCommand);
    const metrics = logRecords().find((r) => '_aws' in r)!;
    expect(metrics[MetricName.SERVICES_REDEPLOYED]).toBe(0);
    expect(metrics[MetricName.ROTATION_SUCCEEDED]).toBe(1);

    // A retried finishSecret (already AWSCURRENT) still redeploys nothing.
    await handler(event('finishSecret'));
    expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
  });

  test('a second rotation within the window after a no-op is deferred too (same token, same promotion time)', async () => {
    const { sm, promotedAt } = await givenSecret(600);
    await handler(event('createSecret'));
    await handler(event('finishSecret'));
    const next = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    sm.setVersion(next, ['AWSPENDING']);

    await handler(event('createSecret', next));

    expect(valueOf(sm, next)).toBe(valueOf(sm, OLD_VERSION));
    expect(sm.tags.get(DeferredTag.key)).toBe(`${next} ${new Date(promotedAt.getTime() + WINDOW * 1000).toISOString()}`);
  });

  test('of a real rotation: removes the deferral tag and redeploys', async () => {
    const { sm } = await givenSecret(WINDOW + 60);
    sm.tags.set(DeferredTag.key, `${OLD_VERSION} ${new Date(Date.now() - 60_000).toISOString()}`);
    await handler(event('createSecret'));
    expect(valueOf(sm, TOKEN)).not.toBe(valueOf(sm, OLD_VERSION));

    await handler(event('finishSecret'));

    expect(smMock).toHaveReceivedCommandWith(UntagResourceCommand, { SecretId: SECRET_ARN, TagKeys: [DeferredTag.key] });
    expect(sm.tags.has(DeferredTag.key)).toBe(false);
    expect(sm.tags.get(PromotedTag.key)!.startsWith(`${TOKEN} `)).toBe(true);
    expect(ecsMock).toHaveReceivedCommandWith(UpdateServiceCommand, { service: SERVICE, forceNewDeployment: true });
  });

  test('of a real rotation without a deferral: no UntagResource call', async () => {
    await givenSecret(WINDOW + 60);
    await handler(event('createSecret'));
    await handler(event('finishSecret'));
    expect(smMock).not.toHaveReceivedCommand(UntagResourceCommand);
    expect(smMock).toHaveReceivedCommandTimes(PutSecretValueCommand, 1);
  });
});

describe('decideDeferral', () => {
  const now = new Date('2030-01-01T12:00:00Z');
  const base = {
    now,
    rolloutAllowanceSeconds: ALLOWANCE,
    watchdogIntervalSeconds: WATCHDOG_INTERVAL,
    currentMatchesConfig: true,
    promotedAt: new Date(now.getTime() - 600_000),
    currentExpiresAt: new Date(now.getTime() + 8 * 3600_000),
  };
  /** The deferred rotation's start at the latest (one watchdog interval late), its duration, then its own window. */
  const neededFromNow = WINDOW - 600 + WATCHDOG_INTERVAL + SAFETY_MARGIN_SECONDS + WINDOW;

  test('defers until promotedAt + 2 x rolloutAllowance + watchdogInterval', () => {
    expect(decideDeferral(base)).toMatchObject({ defer: true, until: new Date(base.promotedAt.getTime() + WINDOW * 1000) });
  });

  test.each([
    ['one second before the end of the window', { promotedAt: new Date(now.getTime() - (WINDOW - 1) * 1000) }],
    ['past rolloutAllowance (a heal may still be replacing tasks)', { promotedAt: new Date(now.getTime() - (ALLOWANCE + 1) * 1000) }],
    [
      'a token that outlives what the deferred rotation needs by one second',
      { currentExpiresAt: new Date(now.getTime() + (neededFromNow + 1) * 1000) },
    ],
  ])('defers: %s', (_case, o) => {
    expect(decideDeferral({ ...base, ...o }).defer).toBe(true);
  });

  test.each([
    ['allowance 0', { rolloutAllowanceSeconds: 0 }],
    ['no recorded promotion', { promotedAt: undefined }],
    ['exactly at the end of the window', { promotedAt: new Date(now.getTime() - WINDOW * 1000) }],
    ['no token', { currentExpiresAt: undefined }],
    ['another configuration', { currentMatchesConfig: false }],
    ['expiry too soon', { currentExpiresAt: new Date(now.getTime() + neededFromNow * 1000) }],
  ])('does not defer: %s', (_case, o) => {
    expect(decideDeferral({ ...base, ...o }).defer).toBe(false);
  });
});

describe('decideWatchdogAction with a deferral', () => {
  const now = new Date('2030-01-01T12:00:00Z');
  const healthy = {
    now,
    expiresAt: new Date(now.getTime() + 6 * 3600_000),
    connected: true,
    rotationInProgress: false,
    rotateBeforeExpirySeconds: 3600,
  };

  test('rotates once the deferral is due', () => {
    const until = new Date(now.getTime() - 1000);
    expect(decideWatchdogAction({ ...healthy, deferredUntil: until })).toEqual({
      action: 'rotate',
      reason: `a scheduled rotation was deferred until ${until.toISOString()}`,
    });
    expect(decideWatchdogAction({ ...healthy, deferredUntil: now }).action).toBe('rotate');
  });

  test('does nothing while it is not yet due', () => {
    const d = decideWatchdogAction({ ...healthy, deferredUntil: new Date(now.getTime() + 1000) });
    expect(d.action).toBe('none');
    expect(d.reason).toContain('a deferred rotation is due at');
  });

  test('waits while a rotation is in progress', () => {
    expect(decideWatchdogAction({ ...healthy, rotationInProgress: true, deferredUntil: new Date(now.getTime() - 1000) }).action).toBe(
      'wait',
    );
  });

  test('keeps the other rules first', () => {
    expect(decideWatchdogAction({ ...healthy, connected: false, deferredUntil: new Date(now.getTime() + 1000) })).toMatchObject({
      action: 'rotate',
      reason: 'the current URL does not authenticate',
    });
  });
});

describe('a deferral that an earlier attempt tagged but never stored', () => {
  test('a retry that no longer defers removes the tag first, so the new token is promoted and redeployed', async () => {
    // GIVEN an attempt that wrote the deferral tag for TOKEN and failed before PutSecretValue; the window has passed since
    const { sm } = await givenSecret(WINDOW + 60);
    sm.tags.set(DeferredTag.key, `${TOKEN} ${new Date(Date.now() - 60_000).toISOString()}`);

    // WHEN the rotation is retried
    await handler(event('createSecret'));

    // THEN it rotates for real, and no tag says its new token is a copy
    expect(valueOf(sm, TOKEN)).not.toBe(valueOf(sm, OLD_VERSION));
    expect(sm.tags.has(DeferredTag.key)).toBe(false);
    await handler(event('finishSecret'));
    expect(ecsMock).toHaveReceivedCommandWith(UpdateServiceCommand, { service: SERVICE, forceNewDeployment: true });
    expect(sm.tags.get(PromotedTag.key)!.startsWith(`${TOKEN} `)).toBe(true);
  });

  test('the deferral tag is written before the copy, so a failed write never leaves an untagged copy', async () => {
    await givenSecret(600);
    smMock.on(PutSecretValueCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));

    await expect(handler(event('createSecret'))).rejects.toThrow('throttled');

    const tagged = smMock.commandCalls(TagResourceCommand).filter((c) => c.args[0].input.Tags?.some((t) => t.Key === DeferredTag.key));
    expect(tagged).toHaveLength(1);
    expect(tagged[0].args[0].input.Tags![0].Value).toMatch(new RegExp(`^${TOKEN} `));
  });
});
