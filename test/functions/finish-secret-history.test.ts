/**
 * finishSecret and the promotion history tag: a real promotion is recorded in
 * front of the history in the same TagResource call as the promoted tag; a
 * retry and a deferred copy change nothing.
 */
import 'aws-sdk-client-mock-jest';
import { TagResourceCommand } from '@aws-sdk/client-secrets-manager';
import { DsqlUrlSecretValue } from '../../lib/contract';
import { DeferredTag, PromotedTag, PromotionHistoryTag, PromotionRecord } from '../../lib/secret-tags';
import { handler } from '../../functions/rotation-handler';
import { HOST, OLD_VERSION, SECRET_ARN, serviceArn, TOKEN } from './fixtures';
import { useMockedAws } from './fixtures-config';
import { boundServices, FakeEcs } from './fixtures-ecs';
import { FakeSecretsManager } from './fixtures-secrets-manager';

jest.mock('../../functions/connection-check');

const { smMock, ecsMock, ssmMock } = useMockedAws();

const A = serviceArn('main', 'a');
const event = { Step: 'finishSecret', SecretId: SECRET_ARN, ClientRequestToken: TOKEN };
const EXPIRES = new Date('2031-01-01T08:00:00.000Z');

function value(expiresAt: string): DsqlUrlSecretValue {
  return {
    url: `postgres://admin:tok@${HOST}:5432/postgres?sslmode=require`,
    host: HOST,
    port: 5432,
    username: 'admin',
    password: 'tok',
    dbname: 'postgres',
    sslmode: 'require',
    issuedAt: new Date().toISOString(),
    expiresAt,
  };
}

/** A secret at finishSecret with TOKEN's value pending; ECS knows A. */
function arrange(expiresAt = EXPIRES.toISOString()): FakeSecretsManager {
  const sm = new FakeSecretsManager();
  sm.setVersion(TOKEN, ['AWSPENDING'], value(expiresAt));
  sm.install(smMock);
  new FakeEcs().add(A).install(ecsMock);
  boundServices(ssmMock, [A]);
  return sm;
}

const history = (sm: FakeSecretsManager): PromotionRecord[] => PromotionHistoryTag.decode(sm.tags.get(PromotionHistoryTag.key));

describe('finishSecret records the promotion history', () => {
  test('one TagResource call writes the promoted tag and the new record in front of the older ones', async () => {
    // GIVEN the history holds OLD_VERSION's promotion
    const sm = arrange();
    const hoursAgo = (h: number) => new Date(Math.floor(Date.now() / 1000 - h * 3600) * 1000);
    const older = { versionId: OLD_VERSION, promotedAt: hoursAgo(4), expiresAt: hoursAgo(-4) };
    sm.tags.set(PromotionHistoryTag.key, PromotionHistoryTag.encode([older]));

    // WHEN
    await handler(event);

    // THEN one call carries both tags
    const calls = smMock.commandCalls(TagResourceCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input.Tags?.map((t) => t.Key).sort()).toEqual([PromotedTag.key, PromotionHistoryTag.key].sort());
    // AND the new record is in front, promoted when the promoted tag says, expiring when the value says
    const promotedAt = PromotedTag.decode(sm.tags.get(PromotedTag.key))!.at;
    expect(history(sm)).toEqual([
      { versionId: TOKEN, promotedAt: new Date(Math.floor(promotedAt.getTime() / 1000) * 1000), expiresAt: EXPIRES },
      older,
    ]);
  });

  test('a retry that finds the promoted tag writes no tag: the history keeps its one record of the version', async () => {
    const sm = arrange();
    await handler(event);
    const after = sm.tags.get(PromotionHistoryTag.key);
    smMock.resetHistory();

    await handler(event);

    expect(smMock).not.toHaveReceivedCommand(TagResourceCommand);
    expect(sm.tags.get(PromotionHistoryTag.key)).toBe(after);
    expect(history(sm).map((r) => r.versionId)).toEqual([TOKEN]);
  });

  test('a deferred copy is not a promotion of a new token: no record', async () => {
    // GIVEN createSecret deferred the rotation: TOKEN is a copy of AWSCURRENT
    const sm = arrange();
    sm.tags.set(DeferredTag.key, DeferredTag.encode({ versionId: TOKEN, at: new Date(Date.now() + 600_000) }));

    await handler(event);

    expect(sm.stagesOf(TOKEN)).toContain('AWSCURRENT');
    expect(sm.tags.has(PromotionHistoryTag.key)).toBe(false);
  });

  test('a value without a readable expiresAt gets the promoted tag only (no record with an unknown expiry)', async () => {
    const sm = arrange('soon');

    await handler(event);

    expect(sm.tags.get(PromotedTag.key)).toMatch(new RegExp(`^${TOKEN} `));
    expect(sm.tags.has(PromotionHistoryTag.key)).toBe(false);
  });
});
