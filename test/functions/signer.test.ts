import 'aws-sdk-client-mock-jest';
import { ECSClient } from '@aws-sdk/client-ecs';
import { CreateAccessKeyCommand, DeleteAccessKeyCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { DsqlUrlSecretValue, SignerKeysValue } from '../../lib/contract';
import { PromotedTag } from '../../lib/secret-tags';
import { checkConnection } from '../../functions/connection-check';
import { handler } from '../../functions/rotation-handler';
import { signingCredentials } from '../../functions/signer';
import { awsError, KEYS_SECRET_ARN, OLD_VERSION, REGION, SECRET_ARN, SIGNER_USER, TOKEN } from './fixtures';
import { accessKeySignerConfig, config, handlerEnv, setEnv } from './fixtures-config';
import { boundServices } from './fixtures-ecs';
import { FakeAccessKey, FakeIam, newFakeAccessKey } from './fixtures-iam';
import { describeSecretOutput, FakeSecretsManager, placeholderValue, promotedTag } from './fixtures-secrets-manager';
import { presignedTokenIsValid, tokenParams, valueSignedWith } from './fixtures-tokens';

const smMock = mockClient(SecretsManagerClient);
const iamMock = mockClient(IAMClient);
const ecsMock = mockClient(ECSClient);
const ssmMock = mockClient(SSMClient);

// The current URL never authenticates here, so createSecret never defers a
// rotation (deferral.test.ts covers that) and the key guard, its second line
// of defence, is what these tests reach.
jest.mock('../../functions/connection-check');
const checkConnectionMock = jest.mocked(checkConnection);

/** The version before AWSCURRENT's. */
const PREVIOUS_VERSION = '77777777-6666-4555-8444-333333333333';
/** rolloutAllowance in seconds. */
const ALLOWANCE = 1800;
/** How long after a promotion AWSPREVIOUS's key stays: the rollout, then the heal (up to one 5-minute watchdog interval late). */
const WINDOW = ALLOWANCE + 300 + ALLOWANCE;

let restoreEnv: () => void;
let logSpy: jest.SpyInstance;
/** Every secret part and full key id any test created: none may ever be logged. */
const secretsSeen: string[] = [];

beforeEach(() => {
  smMock.reset();
  iamMock.reset();
  ecsMock.reset();
  ssmMock.reset();
  checkConnectionMock.mockReset();
  // No bound services: the key guard has no task to ask about (key-guard.test.ts covers the fleet).
  boundServices(ssmMock, []);
  checkConnectionMock.mockRejectedValue(Object.assign(new Error('testSecret: DSQL refused the token'), { kind: 'auth' }));
  restoreEnv = setEnv(handlerEnv(accessKeySignerConfig(ALLOWANCE)));
  logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => {
  const lines = logSpy.mock.calls.map((args) => args.map(String).join(' '));
  for (const line of lines) {
    for (const secret of secretsSeen) expect(line).not.toContain(secret);
    expect(line).not.toMatch(/X-Amz-(Signature|Credential)/);
  }
  restoreEnv();
  jest.restoreAllMocks();
});
afterAll(() => {
  smMock.restore();
  iamMock.restore();
  ecsMock.restore();
  ssmMock.restore();
});

const createSecretEvent = { Step: 'createSecret', SecretId: SECRET_ARN, ClientRequestToken: TOKEN };

const logLines = () => logSpy.mock.calls.map((args) => args.map(String).join(' '));

function track(...keys: FakeAccessKey[]): FakeAccessKey[] {
  for (const k of keys) secretsSeen.push(k.accessKeyId, k.secretAccessKey);
  return keys;
}

/** What a secret holds after the rotation: parsed. */
function pendingOf(sm: FakeSecretsManager): DsqlUrlSecretValue {
  return JSON.parse(sm.versions.get(TOKEN)!.value!) as DsqlUrlSecretValue;
}

function keysOf(sm: FakeSecretsManager): SignerKeysValue {
  return JSON.parse(sm.keysValue!) as SignerKeysValue;
}

/**
 * A secret two rotations in: AWSPREVIOUS signed by `previous`, AWSCURRENT by
 * `current`, promoted `promotedSecondsAgo` ago (tag), AWSPENDING on TOKEN.
 */
async function twoRotationsIn(previous: FakeAccessKey, current: FakeAccessKey, promotedSecondsAgo: number | undefined) {
  const sm = new FakeSecretsManager();
  sm.versions.clear();
  sm.setVersion(PREVIOUS_VERSION, ['AWSPREVIOUS'], await valueSignedWith(previous));
  sm.setVersion(OLD_VERSION, ['AWSCURRENT'], await valueSignedWith(current));
  sm.setVersion(TOKEN, ['AWSPENDING']);
  if (promotedSecondsAgo !== undefined) {
    for (const [k, v] of Object.entries(promotedTag(OLD_VERSION, new Date(Date.now() - promotedSecondsAgo * 1000)))) sm.tags.set(k, v);
  }
  sm.keysValue = JSON.stringify({
    keys: [
      { ...previous, versionId: PREVIOUS_VERSION, createdAt: new Date(Date.now() - 2 * 86400_000).toISOString() },
      { ...current, versionId: OLD_VERSION, createdAt: new Date(Date.now() - 86400_000).toISOString() },
    ],
  });
  sm.install(smMock);
  return sm;
}

describe('access-key signer in createSecret', () => {
  test('first rotation (placeholder is AWSCURRENT, user has no key): creates a key, stores it, then signs with it', async () => {
    // GIVEN
    const sm = new FakeSecretsManager(JSON.stringify(placeholderValue()));
    sm.install(smMock);
    const iam = new FakeIam();
    iam.install(iamMock);
    // Session credentials of the function that expire soon must not cap an access key's token.
    restoreEnv();
    restoreEnv = setEnv(
      handlerEnv(accessKeySignerConfig(ALLOWANCE), { AWS_CREDENTIAL_EXPIRATION: new Date(Date.now() + 600_000).toISOString() }),
    );

    // WHEN
    await handler(createSecretEvent);

    // THEN one key was created and stored with this rotation's version id
    expect(iam.created).toHaveLength(1);
    const [key] = track(...iam.created);
    expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(keysOf(sm).keys).toEqual([{ ...key, versionId: TOKEN, createdAt: expect.any(String) }]);
    // AND the token is signed with the new long-term key: no session token, valid signature
    const value = pendingOf(sm);
    const q = tokenParams(value.password);
    expect(q.get('X-Amz-Credential')!.startsWith(`${key.accessKeyId}/`)).toBe(true);
    expect(q.has('X-Amz-Security-Token')).toBe(false);
    expect(presignedTokenIsValid(value.password, key, REGION)).toBe(true);
    // AND its lifetime is the full requested one
    expect(Date.parse(value.expiresAt) - Date.parse(value.issuedAt)).toBe(43200 * 1000);
    // AND the key material was written before the URL secret (order of commands)
    const create = iamMock.commandCalls(CreateAccessKeyCommand)[0];
    const puts = smMock.commandCalls(PutSecretValueCommand);
    expect(puts.map((c) => c.args[0].input.SecretId)).toEqual([KEYS_SECRET_ARN, SECRET_ARN]);
    expect(create.calledBefore(puts[0])).toBe(true);
    expect(puts[0].calledBefore(puts[1])).toBe(true);
  });

  test('AWSCURRENT read with both VersionId and VersionStage; the placeholder (empty password) holds no key', async () => {
    const sm = new FakeSecretsManager(JSON.stringify(placeholderValue()));
    sm.install(smMock);
    const iam = new FakeIam();
    iam.install(iamMock);

    await handler(createSecretEvent);
    track(...iam.created);

    expect(smMock).toHaveReceivedCommandWith(GetSecretValueCommand, {
      SecretId: SECRET_ARN,
      VersionId: OLD_VERSION,
      VersionStage: 'AWSCURRENT',
    });
    expect(smMock).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: KEYS_SECRET_ARN, VersionStage: 'AWSCURRENT' });
  });

  test("a normal rotation deletes AWSPREVIOUS's key (rollout long over), keeps AWSCURRENT's, deletes before it creates", async () => {
    // GIVEN keys K0 (previous) and K1 (current), promoted two windows ago
    const [k0, k1] = track(newFakeAccessKey(), newFakeAccessKey());
    const sm = await twoRotationsIn(k0, k1, 2 * WINDOW);
    const iam = new FakeIam().add(k0, k1);
    iam.install(iamMock);

    // WHEN
    await handler(createSecretEvent);

    // THEN K0 is gone, K1 stays, K2 is new
    const [k2] = track(...iam.created);
    expect(iam.ids()).toEqual([k1.accessKeyId, k2.accessKeyId].sort());
    expect(iamMock).toHaveReceivedCommandWith(DeleteAccessKeyCommand, { UserName: SIGNER_USER, AccessKeyId: k0.accessKeyId });
    expect(iamMock).toHaveReceivedCommandTimes(DeleteAccessKeyCommand, 1);
    const del = iamMock.commandCalls(DeleteAccessKeyCommand)[0];
    const create = iamMock.commandCalls(CreateAccessKeyCommand)[0];
    expect(del.calledBefore(create)).toBe(true);
    // AND the keys secret holds K1 (still used by AWSCURRENT's tasks) and K2
    expect(keysOf(sm).keys.map((k) => [k.accessKeyId, k.versionId])).toEqual([
      [k1.accessKeyId, OLD_VERSION],
      [k2.accessKeyId, TOKEN],
    ]);
    expect(tokenParams(pendingOf(sm).password).get('X-Amz-Credential')!.startsWith(`${k2.accessKeyId}/`)).toBe(true);
  });

  test.each([
    ['10 minutes after the promotion (a rollout may still run)', 600],
    ['past rolloutAllowance, within the heal window (a heal may still run)', ALLOWANCE + 300],
    ['one minute before the window ends', WINDOW - 60],
  ])("too soon, %s: every key stays and AWSCURRENT's key signs, for its full lifetime", async (_case, secondsAgo) => {
    const [k0, k1] = track(newFakeAccessKey(), newFakeAccessKey());
    const sm = await twoRotationsIn(k0, k1, secondsAgo);
    const promotedAt = sm.tags.get(PromotedTag.key)!.split(' ')[1];
    const iam = new FakeIam().add(k0, k1);
    iam.install(iamMock);
    const keysBefore = sm.keysValue;

    await handler(createSecretEvent);

    expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(iamMock).not.toHaveReceivedCommand(CreateAccessKeyCommand);
    expect(iam.ids()).toEqual([k0.accessKeyId, k1.accessKeyId].sort());
    expect(sm.keysValue).toBe(keysBefore);
    const pending = pendingOf(sm);
    expect(tokenParams(pending.password).get('X-Amz-Credential')!.startsWith(`${k1.accessKeyId}/`)).toBe(true);
    expect(tokenParams(pending.password).get('X-Amz-Expires')).toBe('43200');
    const warning = logLines().find((l) => l.includes('createSecret: keeping every access key'))!;
    expect(warning).toContain('its life is extended');
    expect(warning).toContain(
      `until ${new Date(Date.parse(promotedAt) + WINDOW * 1000).toISOString()} (2 x rolloutAllowance + watchdogInterval`,
    );
    // The window needs no fleet survey.
    expect(ssmMock).not.toHaveReceivedAnyCommand();
  });

  test("too soon and AWSCURRENT's key is not in the keys secret: fails loudly, nothing deleted or created", async () => {
    const [k0, k1] = track(newFakeAccessKey(), newFakeAccessKey());
    const sm = await twoRotationsIn(k0, k1, 600);
    sm.keysValue = JSON.stringify({ keys: [{ ...k0, versionId: PREVIOUS_VERSION, createdAt: new Date().toISOString() }] });
    const iam = new FakeIam().add(k0, k1);
    iam.install(iamMock);

    await expect(handler(createSecretEvent)).rejects.toThrow(
      `AWSCURRENT's access key …${k1.accessKeyId.slice(-4)} is missing from the signer keys secret, so it cannot sign instead`,
    );
    expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(iamMock).not.toHaveReceivedCommand(CreateAccessKeyCommand);
    expect(sm.versions.get(TOKEN)?.value).toBeUndefined();
  });

  test.each([
    ['absent', undefined],
    ['naming another version', 'other'],
  ])("a promotion tag that is %s counts as long ago: AWSPREVIOUS's key is deleted", async (_case, tag) => {
    const [k0, k1] = track(newFakeAccessKey(), newFakeAccessKey());
    const sm = await twoRotationsIn(k0, k1, undefined);
    if (tag !== undefined) {
      for (const [k, v] of Object.entries(promotedTag(PREVIOUS_VERSION, new Date(Date.now() - 60_000)))) sm.tags.set(k, v);
    }
    const iam = new FakeIam().add(k0, k1);
    iam.install(iamMock);

    await handler(createSecretEvent);
    track(...iam.created);

    expect(iam.keys.has(k0.accessKeyId)).toBe(false);
    expect(iam.keys.has(k1.accessKeyId)).toBe(true);
  });

  test('an orphan key (of no current or previous version) is deleted even within the window', async () => {
    // GIVEN the previous key is already gone; an orphan from a failed rotation holds the second slot; promoted 1 minute ago
    const [k0, k1, orphan] = track(newFakeAccessKey(), newFakeAccessKey(), newFakeAccessKey());
    const sm = await twoRotationsIn(k0, k1, 60);
    const iam = new FakeIam().add(k1, orphan);
    iam.install(iamMock);

    await handler(createSecretEvent);
    const [k2] = track(...iam.created);

    expect(iamMock).toHaveReceivedCommandWith(DeleteAccessKeyCommand, { AccessKeyId: orphan.accessKeyId });
    expect(iam.ids()).toEqual([k1.accessKeyId, k2.accessKeyId].sort());
    expect(keysOf(sm).keys.map((k) => k.accessKeyId)).toEqual([k1.accessKeyId, k2.accessKeyId]);
  });

  test('within the window, a rotation whose AWSPREVIOUS key is already gone proceeds', async () => {
    const [k0, k1] = track(newFakeAccessKey(), newFakeAccessKey());
    await twoRotationsIn(k0, k1, 60);
    const iam = new FakeIam().add(k1);
    iam.install(iamMock);

    await handler(createSecretEvent);
    track(...iam.created);

    expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(iam.created).toHaveLength(1);
  });

  test('retry after the URL write failed: the key stored for this version is reused, no IAM change', async () => {
    // GIVEN a first attempt that created and stored K2, then failed writing the URL
    const [k0, k1] = track(newFakeAccessKey(), newFakeAccessKey());
    const sm = await twoRotationsIn(k0, k1, 2 * WINDOW);
    const iam = new FakeIam().add(k0, k1);
    iam.install(iamMock);
    sm.failPut = (input) => (input.SecretId === SECRET_ARN ? awsError('InternalServiceError', 'try again', 500) : undefined);
    await expect(handler(createSecretEvent)).rejects.toThrow('try again');
    const [k2] = track(...iam.created);
    sm.failPut = () => undefined;
    iamMock.resetHistory();
    smMock.resetHistory();

    // WHEN Secrets Manager retries
    await handler(createSecretEvent);

    // THEN K2 signs, nothing is created or deleted, the keys secret is not rewritten
    expect(iamMock).not.toHaveReceivedCommand(CreateAccessKeyCommand);
    expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(smMock).toHaveReceivedCommandTimes(PutSecretValueCommand, 1);
    expect(smMock).toHaveReceivedCommandWith(PutSecretValueCommand, { SecretId: SECRET_ARN, ClientRequestToken: TOKEN });
    const value = pendingOf(sm);
    expect(tokenParams(value.password).get('X-Amz-Credential')!.startsWith(`${k2.accessKeyId}/`)).toBe(true);
    expect(presignedTokenIsValid(value.password, k2, REGION)).toBe(true);
  });

  test('retry after the keys-secret write failed: the unstored key is an orphan, deleted, and a new one created', async () => {
    const [k0, k1] = track(newFakeAccessKey(), newFakeAccessKey());
    const sm = await twoRotationsIn(k0, k1, 2 * WINDOW);
    const iam = new FakeIam().add(k0, k1);
    iam.install(iamMock);
    sm.failPut = (input) => (input.SecretId === KEYS_SECRET_ARN ? awsError('InternalServiceError', 'keys write failed', 500) : undefined);
    await expect(handler(createSecretEvent)).rejects.toThrow('keys write failed');
    const [lost] = track(...iam.created);
    expect(sm.versions.get(TOKEN)!.value).toBeUndefined(); // nothing signed with a key whose secret is not stored
    sm.failPut = () => undefined;

    await handler(createSecretEvent);
    const k3 = track(iam.created[1])[0];

    expect(iam.keys.has(lost.accessKeyId)).toBe(false);
    expect(iam.ids()).toEqual([k1.accessKeyId, k3.accessKeyId].sort());
    expect(keysOf(sm).keys.map((k) => k.accessKeyId)).toEqual([k1.accessKeyId, k3.accessKeyId]);
    expect(tokenParams(pendingOf(sm).password).get('X-Amz-Credential')!.startsWith(`${k3.accessKeyId}/`)).toBe(true);
  });

  test('a stored key for this version that IAM no longer has is not reused', async () => {
    const [k1, gone] = track(newFakeAccessKey(), newFakeAccessKey());
    const sm = new FakeSecretsManager(JSON.stringify(await valueSignedWith(k1)));
    sm.keysValue = JSON.stringify({ keys: [{ ...gone, versionId: TOKEN, createdAt: new Date().toISOString() }] });
    sm.install(smMock);
    const iam = new FakeIam().add(k1);
    iam.install(iamMock);

    await handler(createSecretEvent);
    const [k2] = track(...iam.created);

    expect(tokenParams(pendingOf(sm).password).get('X-Amz-Credential')!.startsWith(`${k2.accessKeyId}/`)).toBe(true);
    expect(keysOf(sm).keys.map((k) => k.accessKeyId)).toEqual([k2.accessKeyId]);
  });

  test('idempotent: with a pending value already written, IAM is not touched', async () => {
    const [k1] = track(newFakeAccessKey());
    const sm = new FakeSecretsManager();
    sm.setVersion(TOKEN, ['AWSPENDING'], await valueSignedWith(k1));
    sm.install(smMock);
    const iam = new FakeIam().add(k1);
    iam.install(iamMock);

    await handler(createSecretEvent);

    expect(iamMock).not.toHaveReceivedAnyCommand();
    expect(smMock).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  test('a key IAM says is already deleted (NoSuchEntity) is fine', async () => {
    const [k0, k1] = track(newFakeAccessKey(), newFakeAccessKey());
    await twoRotationsIn(k0, k1, 2 * WINDOW);
    const iam = new FakeIam().add(k0, k1);
    // As if another attempt deleted it between our list and our delete.
    iam.failDelete = (id) => {
      if (id !== k0.accessKeyId) return undefined;
      iam.keys.delete(id);
      return Object.assign(new Error(`The Access Key with id ${id} cannot be found.`), { name: 'NoSuchEntityException', $metadata: {} });
    };
    iam.install(iamMock);

    await handler(createSecretEvent);
    track(...iam.created);

    expect(iamMock).toHaveReceivedCommandTimes(CreateAccessKeyCommand, 1);
  });

  test('an IAM failure names the action and the user and shows only the last 4 characters of a key id', async () => {
    const [k0, k1] = track(newFakeAccessKey(), newFakeAccessKey());
    await twoRotationsIn(k0, k1, 2 * WINDOW);
    const iam = new FakeIam().add(k0, k1);
    iam.failDelete = (id) => awsError('AccessDenied', `User is not authorized to perform: iam:DeleteAccessKey on key ${id}`, 403);
    iam.install(iamMock);

    const error: Error = await handler(createSecretEvent).then(
      () => {
        throw new Error('expected a failure');
      },
      (e: Error) => e,
    );

    expect(error.message).toContain(`createSecret: iam:DeleteAccessKey for user ${SIGNER_USER} failed (AccessDenied:`);
    expect(error.message).toContain(`…${k0.accessKeyId.slice(-4)}`);
    expect(error.message).not.toContain(k0.accessKeyId);
    expect(iamMock).not.toHaveReceivedCommand(CreateAccessKeyCommand);
  });

  test.each([
    ['an explicit deny in a service control policy', 'AccessDenied', 'with an explicit deny in a service control policy'],
    ['no SCP allowing it', 'AccessDeniedException', 'because no service control policy allows the iam:CreateAccessKey action'],
  ])(
    'CreateAccessKey denied (%s): the rotation fails saying an organisation policy may forbid access keys, naming the role signer',
    async (_case, name, why) => {
      const sm = new FakeSecretsManager(JSON.stringify(placeholderValue()));
      sm.install(smMock);
      new FakeIam().install(iamMock);
      const denial =
        'User: arn:aws:sts::123456789012:assumed-role/fn/x is not authorized to perform: iam:CreateAccessKey ' +
        `on resource: user ${SIGNER_USER} ${why}`;
      iamMock.on(CreateAccessKeyCommand).rejects(awsError(name, denial, 403));

      const error: Error = await handler(createSecretEvent).then(
        () => {
          throw new Error('expected a failure');
        },
        (e: Error) => e,
      );

      expect(error.message).toContain(`createSecret: iam:CreateAccessKey for user ${SIGNER_USER} failed (${name}: ${denial})`);
      expect(error.message).toMatch(/an organisation policy \(SCP\) or a permissions boundary may forbid IAM access keys/);
      expect(error.message).toContain('signer: TokenSigner.rotationFunctionRole()');
      // Nothing was written: no key to store, no pending value.
      expect(smMock).not.toHaveReceivedCommand(PutSecretValueCommand);
    },
  );

  // Anchored at both ends: the SCP hint would not match.
  test('other CreateAccessKey failures keep their own message (no SCP hint)', async () => {
    const sm = new FakeSecretsManager(JSON.stringify(placeholderValue()));
    sm.install(smMock);
    new FakeIam().install(iamMock);
    iamMock.on(CreateAccessKeyCommand).rejects(awsError('LimitExceededException', 'Cannot exceed quota for AccessKeysPerUser: 2', 409));

    await expect(handler(createSecretEvent)).rejects.toThrow(
      new RegExp(
        `^createSecret: iam:CreateAccessKey for user ${SIGNER_USER} failed \\(LimitExceededException: Cannot exceed quota[^]*\\)$`,
      ),
    );
  });

  test('a keys secret that is not the expected JSON fails without showing its content', async () => {
    const sm = new FakeSecretsManager(JSON.stringify(placeholderValue()));
    sm.keysValue = 'not json: wJalrXUtnFEMI/secret';
    sm.install(smMock);
    new FakeIam().install(iamMock);

    const error: Error = await handler(createSecretEvent).then(
      () => {
        throw new Error('expected a failure');
      },
      (e: Error) => e,
    );

    expect(error.message).toContain(`the signer keys secret ${KEYS_SECRET_ARN} does not hold`);
    expect(error.message).not.toContain('wJalrXUtnFEMI');
    expect(iamMock).not.toHaveReceivedCommand(CreateAccessKeyCommand);
  });

  test('an unreadable AWSCURRENT value stops the rotation before any key is deleted', async () => {
    const [k0, k1] = track(newFakeAccessKey(), newFakeAccessKey());
    const sm = await twoRotationsIn(k0, k1, 2 * WINDOW);
    sm.versions.get(OLD_VERSION)!.value = undefined;
    const iam = new FakeIam().add(k0, k1);
    iam.install(iamMock);

    await expect(handler(createSecretEvent)).rejects.toThrow(
      `createSecret: cannot read AWSCURRENT version ${OLD_VERSION} of ${SECRET_ARN} to tell which access key signed it`,
    );
    expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(iamMock).not.toHaveReceivedCommand(CreateAccessKeyCommand);
  });

  test('a keys secret without a value yet counts as no key', async () => {
    const sm = new FakeSecretsManager(JSON.stringify(placeholderValue()));
    sm.keysValue = undefined;
    sm.install(smMock);
    const iam = new FakeIam();
    iam.install(iamMock);

    await handler(createSecretEvent);
    const [key] = track(...iam.created);

    expect(keysOf(sm).keys.map((k) => k.accessKeyId)).toEqual([key.accessKeyId]);
  });

  test("the second rotation after the placeholder: AWSPREVIOUS is the placeholder, AWSCURRENT's key is kept", async () => {
    const [k1] = track(newFakeAccessKey());
    const sm = new FakeSecretsManager();
    sm.versions.clear();
    sm.setVersion(PREVIOUS_VERSION, ['AWSPREVIOUS'], JSON.stringify(placeholderValue()));
    sm.setVersion(OLD_VERSION, ['AWSCURRENT'], await valueSignedWith(k1));
    sm.setVersion(TOKEN, ['AWSPENDING']);
    for (const [k, v] of Object.entries(promotedTag(OLD_VERSION, new Date(Date.now() - 60_000)))) sm.tags.set(k, v);
    sm.keysValue = JSON.stringify({ keys: [{ ...k1, versionId: OLD_VERSION, createdAt: new Date().toISOString() }] });
    sm.install(smMock);
    const iam = new FakeIam().add(k1);
    iam.install(iamMock);

    await handler(createSecretEvent);
    const [k2] = track(...iam.created);

    expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(iam.ids()).toEqual([k1.accessKeyId, k2.accessKeyId].sort());
  });

  test('logs name the user and show keys by their last 4 characters only', async () => {
    const [k0, k1] = track(newFakeAccessKey(), newFakeAccessKey());
    await twoRotationsIn(k0, k1, 2 * WINDOW);
    const iam = new FakeIam().add(k0, k1);
    iam.install(iamMock);

    await handler(createSecretEvent);
    const [k2] = track(...iam.created);

    const lines = logSpy.mock.calls.map((args) => JSON.parse(String(args[0])) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({
        message: expect.stringContaining('deleted an access key'),
        key: `…${k0.accessKeyId.slice(-4)}`,
        usedBy: 'AWSPREVIOUS',
      }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({
        message: expect.stringContaining('created a new access key'),
        key: `…${k2.accessKeyId.slice(-4)}`,
        signerUser: SIGNER_USER,
      }),
    );
    // afterEach checks that no full key id, secret key or token appears
  });
});

describe('role signer', () => {
  test('uses the function credentials and never calls IAM', async () => {
    restoreEnv();
    restoreEnv = setEnv(handlerEnv());
    const credentials = await signingCredentials({
      sm: new SecretsManagerClient({ region: REGION }),
      iam: new IAMClient({ region: REGION }),
      ecs: new ECSClient({ region: REGION }),
      ssm: new SSMClient({ region: REGION }),
      config: config(),
      secretArn: SECRET_ARN,
      versionId: TOKEN,
      metadata: describeSecretOutput(),
    });

    expect(credentials.accessKeyId).toBe(handlerEnv().AWS_ACCESS_KEY_ID);
    expect(credentials.sessionToken).toBe(handlerEnv().AWS_SESSION_TOKEN);
    expect(iamMock).not.toHaveReceivedAnyCommand();
    expect(smMock).not.toHaveReceivedAnyCommand();
    expect(iamMock).not.toHaveReceivedCommand(ListAccessKeysCommand);
  });
});
