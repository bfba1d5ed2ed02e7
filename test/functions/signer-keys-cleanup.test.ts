/**
 * Delete of the first-rotation custom resource with the access-key signer (functions/signer-keys-cleanup.ts):
 * CloudFormation deletes the signer user next, which IAM refuses while it has keys. A rotation running
 * meanwhile may create a key after the listing, so rotation is stopped first and the keys are listed
 * again until none is left.
 */
import 'aws-sdk-client-mock-jest';
import { IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import {
  CancelRotateSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { deleteSignerKeys, SignerKeysCleanup } from '../../functions/signer-keys-cleanup';
import { awsError, OLD_VERSION, SECRET_ARN, SIGNER_USER, TOKEN } from './fixtures';
import { FakeIam, newFakeAccessKey } from './fixtures-iam';
import { describeSecretOutput } from './fixtures-secrets-manager';

const smMock = mockClient(SecretsManagerClient);
const iamMock = mockClient(IAMClient);

let calls: string[];
let sleeps: number[];
let logSpy: jest.SpyInstance;
beforeEach(() => {
  smMock.reset();
  iamMock.reset();
  calls = [];
  sleeps = [];
  logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  // A rotation is running: TOKEN is AWSPENDING.
  smMock.on(CancelRotateSecretCommand).callsFake(() => {
    calls.push('CancelRotateSecret');
    return { ARN: SECRET_ARN };
  });
  smMock.on(DescribeSecretCommand).resolves(describeSecretOutput({ stages: { [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] } }));
  smMock.on(UpdateSecretVersionStageCommand).callsFake(() => {
    calls.push('UpdateSecretVersionStage');
    return {};
  });
});
afterEach(() => jest.restoreAllMocks());
afterAll(() => {
  smMock.restore();
  iamMock.restore();
});

function cleanup(overrides: Partial<SignerKeysCleanup> = {}): SignerKeysCleanup {
  return {
    sm: new SecretsManagerClient({}),
    iam: new IAMClient({}),
    secretArn: SECRET_ARN,
    userName: SIGNER_USER,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...overrides,
  };
}

/** The fake IAM, with `onList(n)` run after the n-th ListAccessKeys has answered (a rotation's createSecret racing it). */
function fakeIam(keys: number, onList: (n: number, iam: FakeIam) => void = () => undefined): FakeIam {
  const iam = new FakeIam();
  for (let i = 0; i < keys; i++) iam.add(newFakeAccessKey());
  iam.install(iamMock);
  let n = 0;
  const answer = (input: { UserName?: string }) => {
    calls.push('ListAccessKeys');
    const out = { AccessKeyMetadata: iam.ids().map((AccessKeyId) => ({ UserName: input.UserName, AccessKeyId, Status: 'Active' })) };
    onList(++n, iam);
    return out;
  };
  // Replaces the fake's listing with the same answer, plus the race.
  iamMock.on(ListAccessKeysCommand).callsFake(answer);
  return iam;
}

describe('Delete: the signer user is left without keys', () => {
  test('a rotation running during Delete creates a key after the first listing: it is found and deleted too', async () => {
    // GIVEN two keys, and a createSecret already past its guard that creates a key right after the first listing
    const iam = fakeIam(2, (n, fake) => {
      if (n === 1) fake.add(newFakeAccessKey());
    });
    // WHEN
    const reason = await deleteSignerKeys(cleanup());
    // THEN
    expect(iam.keys.size).toBe(0);
    expect(reason).toBe(`Deleted 3 access key(s) of the signer user ${SIGNER_USER}`);
    // Rotation is stopped before the first listing: turned off, and the running rotation's AWSPENDING cleared.
    expect(calls.slice(0, 3)).toEqual(['CancelRotateSecret', 'UpdateSecretVersionStage', 'ListAccessKeys']);
    expect(smMock).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      SecretId: SECRET_ARN,
      VersionStage: 'AWSPENDING',
      RemoveFromVersionId: TOKEN,
    });
    // Listed again after a quiet wait until a listing found none.
    expect(calls.filter((c) => c === 'ListAccessKeys')).toHaveLength(3);
    expect(sleeps).toEqual([10_000, 10_000]);
    expect(logSpy.mock.calls.map((a) => String(a[0])).some((l) => l.includes('a new access key of the signer user appeared'))).toBe(true);
  });

  test('no rotation running: rotation is turned off, nothing else staged is touched, one quiet re-listing', async () => {
    smMock.on(DescribeSecretCommand).resolves(describeSecretOutput({ stages: { [OLD_VERSION]: ['AWSCURRENT'] } }));
    const iam = fakeIam(1);

    await deleteSignerKeys(cleanup());

    expect(iam.keys.size).toBe(0);
    expect(smMock).toHaveReceivedCommandTimes(CancelRotateSecretCommand, 1);
    expect(smMock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
    expect(sleeps).toEqual([10_000]);
  });

  test('bounded: keys that keep appearing fail the Delete after maxRounds listings, saying what to do', async () => {
    const iam = fakeIam(1, (_n, fake) => fake.add(newFakeAccessKey()));

    await expect(deleteSignerKeys(cleanup({ maxRounds: 4 }))).rejects.toThrow(
      new RegExp(
        `Deleted 4 access key\\(s\\) of the signer user ${SIGNER_USER}, but new ones kept appearing over 4 listings 10 s apart: ` +
          `something still rotates the secret ${SECRET_ARN}. .*aws iam list-access-keys / delete-access-key`,
      ),
    );
    expect(calls.filter((c) => c === 'ListAccessKeys')).toHaveLength(4);
    expect(iam.keys.size).toBe(1); // the one created after the last listing
  });

  test('stopping rotation is best effort: a refusal is logged and the keys are still deleted', async () => {
    smMock
      .on(CancelRotateSecretCommand)
      .rejects(awsError('AccessDeniedException', 'not authorized to perform: secretsmanager:CancelRotateSecret'));
    const iam = fakeIam(2);

    await expect(deleteSignerKeys(cleanup())).resolves.toBe(`Deleted 2 access key(s) of the signer user ${SIGNER_USER}`);
    expect(iam.keys.size).toBe(0);
    expect(logSpy.mock.calls.map((a) => String(a[0])).some((l) => l.includes('could not stop rotation'))).toBe(true);
  });

  test('the role signer has no user: nothing is called', async () => {
    await expect(deleteSignerKeys(cleanup({ userName: null }))).resolves.toBe('Nothing to delete');
    expect(smMock).not.toHaveReceivedAnyCommand();
    expect(iamMock).not.toHaveReceivedAnyCommand();
  });
});
