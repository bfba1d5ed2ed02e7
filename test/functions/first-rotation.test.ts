/**
 * The first rotation's wait (functions/first-rotation.ts, functions/cluster-readiness.ts): it waits
 * for the cluster (a peered cluster stays PENDING_SETUP until its peer is linked), and re-drives a
 * failed rotation (clears its AWSPENDING and rotates again) a bounded number of times, within the
 * deadline. moto 5.2.1 has GetCluster but never reports PENDING_SETUP, so the cluster is mocked here.
 */
import 'aws-sdk-client-mock-jest';
import { DSQLClient, GetClusterCommand } from '@aws-sdk/client-dsql';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
  UpdateSecretVersionStageCommandInput,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { clusterReadiness } from '../../functions/cluster-readiness';
import { attemptFailure, ensureFirstRotation, WaitContext } from '../../functions/first-rotation';
import { rotationStateOf } from '../../core/rotation-state';
import { awsError, CLUSTER_ID, OLD_VERSION, REGION, SECRET_ARN } from './fixtures';
import { ROTATION_LOG_GROUP } from './fixtures-config';
import { placeholderValue } from './fixtures-secrets-manager';

const smMock = mockClient(SecretsManagerClient);
const dsqlMock = mockClient(DSQLClient);
const T0 = Date.parse('2030-01-01T00:00:00Z');

/** What each rotation RotateSecret starts does: completes after `polls` DescribeSecret calls, or never (`stays pending`), or loses its label. */
type Outcome = { completesAfterPolls: number } | 'stays pending' | { lostAfterPolls: number };

/** A stateful Secrets Manager: versions and their stages; rotation `i` behaves as outcomes[i]. */
function fakeSecretsManager(outcomes: Outcome[], now: () => number = () => 0) {
  const stages = new Map<string, string[]>([[OLD_VERSION, ['AWSCURRENT']]]);
  const withUrl = new Set<string>();
  const started: string[] = [];
  /** now() at each RotateSecret that started a rotation. */
  const startedAt: number[] = [];
  let polls = 0;
  const holder = (stage: string) => [...stages].find(([, s]) => s.includes(stage))?.[0];
  smMock.on(RotateSecretCommand).callsFake(() => {
    const pending = [...stages].find(([, s]) => s.includes('AWSPENDING') && !s.includes('AWSCURRENT'));
    if (pending) throw awsError('InvalidRequestException', "A previous rotation isn't complete. That rotation will be reattempted.");
    const id = `v${started.length + 1}`;
    started.push(id);
    startedAt.push(now());
    stages.set(id, ['AWSPENDING']);
    polls = 0;
    return { ARN: SECRET_ARN, VersionId: id };
  });
  smMock.on(DescribeSecretCommand).callsFake(() => {
    const current = started[started.length - 1];
    const outcome = outcomes[started.length - 1];
    if (current !== undefined && stages.get(current)?.includes('AWSPENDING')) {
      polls++;
      if (typeof outcome === 'object' && 'completesAfterPolls' in outcome && polls > outcome.completesAfterPolls) {
        const old = holder('AWSCURRENT')!;
        stages.set(old, ['AWSPREVIOUS']);
        stages.set(current, ['AWSCURRENT', 'AWSPENDING']);
        withUrl.add(current);
      } else if (typeof outcome === 'object' && 'lostAfterPolls' in outcome && polls > outcome.lostAfterPolls) {
        stages.set(current, []);
      }
    }
    return { ARN: SECRET_ARN, RotationEnabled: true, VersionIdsToStages: Object.fromEntries(stages) };
  });
  smMock.on(GetSecretValueCommand).callsFake(() => {
    const current = holder('AWSCURRENT')!;
    return {
      SecretString: JSON.stringify(
        withUrl.has(current) ? { ...placeholderValue(), url: 'postgres://admin:x@h/postgres' } : placeholderValue(),
      ),
    };
  });
  smMock.on(UpdateSecretVersionStageCommand).callsFake((input: UpdateSecretVersionStageCommandInput) => {
    const s = stages.get(input.RemoveFromVersionId!) ?? [];
    stages.set(
      input.RemoveFromVersionId!,
      s.filter((l) => l !== input.VersionStage),
    );
    return {};
  });
  return { started, startedAt, stages };
}

function waitContext(overrides: Partial<WaitContext> = {}): WaitContext & { t: { now: number } } {
  const t = { now: T0 };
  return {
    t,
    sm: new SecretsManagerClient({}),
    dsql: new DSQLClient({}),
    secretArn: SECRET_ARN,
    rotationLogGroup: ROTATION_LOG_GROUP,
    cluster: { identifier: CLUSTER_ID, region: REGION },
    deadline: T0 + 600_000,
    startedAt: T0,
    now: () => t.now,
    sleep: async (ms) => {
      t.now += ms;
    },
    pollIntervalMs: 5_000,
    redriveAfterMs: 180_000,
    maxAttempts: 3,
    ...overrides,
  };
}

let logSpy: jest.SpyInstance;
beforeEach(() => {
  smMock.reset();
  dsqlMock.reset();
  dsqlMock.on(GetClusterCommand).resolves({ status: 'ACTIVE' });
  logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());
afterAll(() => {
  smMock.restore();
  dsqlMock.restore();
});

const logLines = () => logSpy.mock.calls.map((a) => String(a[0]));

describe('re-driving a failed first rotation', () => {
  test('a rotation still AWSPENDING after redriveAfter is cleared and started again; the second one succeeds', async () => {
    // GIVEN the first rotation fails (stays AWSPENDING), the second completes
    const sm = fakeSecretsManager(['stays pending', { completesAfterPolls: 2 }]);
    const w = waitContext();
    // WHEN
    const reason = await ensureFirstRotation(w);
    // THEN
    expect(reason).toBe(`The first rotation of ${SECRET_ARN} completed: version v2 is AWSCURRENT (rotation 2 of at most 3)`);
    expect(sm.started).toEqual(['v1', 'v2']);
    expect(smMock).toHaveReceivedCommandTimes(UpdateSecretVersionStageCommand, 1);
    expect(smMock).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      SecretId: SECRET_ARN,
      VersionStage: 'AWSPENDING',
      RemoveFromVersionId: 'v1',
    });
    expect(sm.stages.get('v1')).toEqual([]);
    // Cleared at the first poll at or after 180 s, long before the watchdog's 15-minute stale limit.
    expect(w.t.now - T0).toBeLessThan(200_000);
    expect(logLines().some((l) => l.includes('the rotation failed; starting it again') && l.includes('"failure":"stalled"'))).toBe(true);
  });

  test('bounded: at most maxAttempts rotations, then FAILED at the deadline naming how many were started', async () => {
    const sm = fakeSecretsManager(['stays pending', 'stays pending', 'stays pending', 'stays pending']);
    const w = waitContext();

    await expect(ensureFirstRotation(w)).rejects.toThrow(
      `The first rotation of secret ${SECRET_ARN} did not complete within 600 s. 3 rotations were started, each cleared and ` +
        'started again after 180 s without completing.',
    );
    expect(sm.started).toEqual(['v1', 'v2', 'v3']);
    expect(smMock).toHaveReceivedCommandTimes(UpdateSecretVersionStageCommand, 2);
    // The last one is left to Secrets Manager's own retries until the deadline; nothing past it.
    expect(w.t.now - T0).toBe(600_000);
  });

  test('a rotation whose AWSPENDING label vanished (cleared elsewhere) is started again at once, without clearing anything', async () => {
    const sm = fakeSecretsManager([{ lostAfterPolls: 1 }, { completesAfterPolls: 1 }]);
    const w = waitContext();

    const reason = await ensureFirstRotation(w);

    expect(reason).toContain('version v2 is AWSCURRENT');
    expect(sm.started).toEqual(['v1', 'v2']);
    expect(smMock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
    expect(w.t.now - T0).toBeLessThan(30_000);
  });

  test('a healthy rotation is never re-driven', async () => {
    const sm = fakeSecretsManager([{ completesAfterPolls: 30 }]); // 150 s: slow, but within redriveAfter
    const reason = await ensureFirstRotation(waitContext());
    expect(reason).toBe(`The first rotation of ${SECRET_ARN} completed: version v1 is AWSCURRENT`);
    expect(sm.started).toEqual(['v1']);
    expect(smMock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
  });

  test('attemptFailure: the rule on one DescribeSecret answer', () => {
    const state = (stages: Record<string, string[]>) => rotationStateOf({ VersionIdsToStages: stages });
    const pendingV1 = state({ [OLD_VERSION]: ['AWSCURRENT'], v1: ['AWSPENDING'] });
    const attempt = { number: 1, versionId: 'v1', startedAt: 0, seenPending: true };
    expect(attemptFailure(attempt, pendingV1, 179_999, 180_000)).toBeUndefined();
    expect(attemptFailure(attempt, pendingV1, 180_000, 180_000)).toBe('stalled');
    expect(attemptFailure(attempt, state({ [OLD_VERSION]: ['AWSCURRENT'] }), 5_000, 180_000)).toBe('lost');
    expect(attemptFailure(attempt, state({ v1: ['AWSCURRENT', 'AWSPENDING'] }), 999_999, 180_000)).toBeUndefined();
    // Not yet seen pending (eventual consistency right after RotateSecret): not lost until it is as old as a stall.
    const unseen = { number: 1, versionId: 'v1', startedAt: 0 };
    expect(attemptFailure(unseen, state({ [OLD_VERSION]: ['AWSCURRENT'] }), 5_000, 180_000)).toBeUndefined();
    expect(attemptFailure(unseen, state({ [OLD_VERSION]: ['AWSCURRENT'] }), 180_000, 180_000)).toBe('lost');
  });
});

describe('waiting for the cluster before the first rotation', () => {
  test('PENDING_SETUP (a peered cluster whose peer is not linked yet) is waited for; once ACTIVE the rotation starts', async () => {
    const w = waitContext();
    const sm = fakeSecretsManager([{ completesAfterPolls: 1 }], w.now);
    let calls = 0;
    dsqlMock.on(GetClusterCommand).callsFake(() => ({ status: ++calls <= 4 ? 'PENDING_SETUP' : 'ACTIVE' }));

    const reason = await ensureFirstRotation(w);

    expect(reason).toContain('version v1 is AWSCURRENT');
    expect(dsqlMock).toHaveReceivedCommandWith(GetClusterCommand, { identifier: CLUSTER_ID });
    expect(dsqlMock).toHaveReceivedCommandTimes(GetClusterCommand, 5);
    expect(sm.started).toEqual(['v1']);
    // No RotateSecret while the cluster could not take a connection: the rotation started after 4 polls (20 s).
    expect(sm.startedAt).toEqual([T0 + 20_000]);
    const waiting = logLines().filter((l) => l.includes('waiting for the cluster'));
    expect(waiting).toHaveLength(1); // logged once per state, not once per poll
    expect(waiting[0]).toContain('"status":"PENDING_SETUP"');
  });

  test('PENDING_SETUP until the deadline: FAILED naming the state, why, and the fix (link the peer); nothing rotated', async () => {
    fakeSecretsManager([]);
    dsqlMock.on(GetClusterCommand).resolves({ status: 'PENDING_SETUP' });
    const w = waitContext();

    const err = (await ensureFirstRotation(w).catch((e: Error) => e)) as Error;

    expect(err.message).toContain(`Aurora DSQL cluster ${CLUSTER_ID} (${REGION}) was still PENDING_SETUP after 600 s`);
    expect(err.message).toContain('the first rotation of secret');
    expect(err.message).toContain('A multi-region peered cluster stays PENDING_SETUP until its peer is linked. Fix: link the peer');
    expect(err.message).toContain('multiRegionProperties.clusters');
    expect(err.message).toContain('one per region');
    expect(err.message.length).toBeLessThan(2_000);
    expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
    expect(w.t.now - T0).toBe(600_000);
  });

  test('CREATING is waited for too, and its timeout says to deploy again once ACTIVE', async () => {
    fakeSecretsManager([]);
    dsqlMock.on(GetClusterCommand).resolves({ status: 'CREATING' });
    await expect(ensureFirstRotation(waitContext({ deadline: T0 + 60_000 }))).rejects.toThrow(
      /was still CREATING after 60 s.*Deploy again once the cluster is ACTIVE/,
    );
  });

  test.each(['DELETING', 'DELETED', 'PENDING_DELETE', 'FAILED'])('%s fails at once: no rotation can succeed', async (status) => {
    fakeSecretsManager([]);
    dsqlMock.on(GetClusterCommand).resolves({ status: status as 'FAILED' });
    const w = waitContext();
    await expect(ensureFirstRotation(w)).rejects.toThrow(`Aurora DSQL cluster ${CLUSTER_ID} (${REGION}) is ${status}`);
    expect(w.t.now).toBe(T0);
    expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
  });

  test('a cluster that does not exist fails at once, naming the cluster prop', async () => {
    fakeSecretsManager([]);
    dsqlMock.on(GetClusterCommand).rejects(awsError('ResourceNotFoundException', 'The resource ... does not exist'));
    await expect(ensureFirstRotation(waitContext())).rejects.toThrow(
      `Aurora DSQL cluster ${CLUSTER_ID} does not exist in ${REGION}, so the first rotation of secret ${SECRET_ARN} was not started`,
    );
  });

  test('GetCluster failing otherwise (e.g. denied) is logged and the rotation starts anyway', async () => {
    const sm = fakeSecretsManager([{ completesAfterPolls: 1 }]);
    dsqlMock.on(GetClusterCommand).rejects(awsError('AccessDeniedException', 'explicit deny in a service control policy'));
    await expect(ensureFirstRotation(waitContext())).resolves.toContain('is AWSCURRENT');
    expect(sm.started).toEqual(['v1']);
    expect(logLines().some((l) => l.includes('could not read the cluster status') && l.includes('AccessDeniedException'))).toBe(true);
  });

  test('a rotation already in progress is joined without reading the cluster', async () => {
    fakeSecretsManager([{ completesAfterPolls: 1 }]);
    smMock.on(RotateSecretCommand).rejects(awsError('InvalidRequestException', "A previous rotation isn't complete."));
    let polls = 0;
    smMock.on(DescribeSecretCommand).callsFake(() => ({
      VersionIdsToStages:
        ++polls === 1 ? { [OLD_VERSION]: ['AWSCURRENT'], r: ['AWSPENDING'] } : { [OLD_VERSION]: ['AWSPREVIOUS'], r: ['AWSCURRENT'] },
    }));
    smMock.on(GetSecretValueCommand).callsFake(() => ({ SecretString: JSON.stringify({ url: polls > 1 ? 'postgres://x' : '' }) }));
    await expect(ensureFirstRotation(waitContext())).resolves.toContain('version r is AWSCURRENT');
    expect(dsqlMock).not.toHaveReceivedAnyCommand();
  });

  test('clusterReadiness: unknown and serving states start the rotation (it tells), only CREATING and PENDING_SETUP wait', () => {
    expect(['ACTIVE', 'IDLE', 'INACTIVE', 'UPDATING', 'SOME_NEW_STATE', undefined].map(clusterReadiness)).toEqual(Array(6).fill('ready'));
    expect(['CREATING', 'PENDING_SETUP'].map(clusterReadiness)).toEqual(['wait', 'wait']);
  });
});
