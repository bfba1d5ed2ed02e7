import { fleetHistoryOf, healAfter, healDue, mayRunOlderTasks, tokenHeldBy } from '../../core/fleet';
import { rotationStateOf } from '../../core/rotation-state';
import { DeferredTag, PromotedTag, PromotionHistoryTag, PromotionRecord, withPromotion } from '../../lib/secret-tags';

const t = (minutes: number) => new Date(Date.UTC(2026, 0, 1) + minutes * 60_000);
const V = (n: number) => `0000000${n}-aaaa-4bbb-8ccc-dddddddddddd`;
// Newest first: promoted at 240, 0 and -240 minutes.
const history: PromotionRecord[] = [
  { versionId: V(3), promotedAt: t(240), expiresAt: t(720) },
  { versionId: V(2), promotedAt: t(0), expiresAt: t(480) },
  { versionId: V(1), promotedAt: t(-240), expiresAt: t(240) },
];

describe('PromotionHistoryTag', () => {
  test('round-trips records to the second, newest first whatever the order given', () => {
    const encoded = PromotionHistoryTag.encode([history[0], history[1], history[2]]);
    expect(PromotionHistoryTag.decode(encoded)).toEqual(history);
    expect(PromotionHistoryTag.decode(PromotionHistoryTag.encode([history[2], history[0]]))).toEqual([history[0], history[2]]);
  });

  test('keeps the newest records that fit a 256-character tag value', () => {
    const many = Array.from({ length: 8 }, (_, i) => ({ versionId: V(i), promotedAt: t(-i * 60), expiresAt: t(600 - i * 60) }));
    const encoded = PromotionHistoryTag.encode(many);
    expect(encoded.length).toBeLessThanOrEqual(256);
    const decoded = PromotionHistoryTag.decode(encoded);
    expect(decoded.length).toBe(4);
    expect(decoded.map((r) => r.versionId)).toEqual([V(0), V(1), V(2), V(3)]);
    expect(encoded).toMatch(/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u);
  });

  test('absent or malformed entries decode to nothing, well-formed ones survive', () => {
    expect(PromotionHistoryTag.decode(undefined)).toEqual([]);
    expect(PromotionHistoryTag.decode('')).toEqual([]);
    const good = PromotionHistoryTag.encode([history[1]]);
    expect(PromotionHistoryTag.decode(`junk a/b/c ${good} v/1/2/3`)).toEqual([history[1]]);
  });

  test('withPromotion puts the record in front once (a retried finishSecret records nothing twice)', () => {
    const again = withPromotion(withPromotion(history.slice(1), history[0]), history[0]);
    expect(again).toEqual(history);
  });
});

describe('tokenHeldBy', () => {
  test('a task holds the token promoted last at or before its creation', () => {
    expect(tokenHeldBy(t(300), history)).toEqual({ age: 'current', versionId: V(3), expiresAt: t(720) });
    expect(tokenHeldBy(t(240), history).age).toBe('current');
    expect(tokenHeldBy(t(239), history)).toEqual({ age: 'previous', versionId: V(2), expiresAt: t(480) });
    expect(tokenHeldBy(t(-1), history)).toEqual({ age: 'older', versionId: V(1), expiresAt: t(240) });
  });

  test('a task older than every record, or of unknown age, holds an unknown token', () => {
    expect(tokenHeldBy(t(-241), history)).toEqual({ age: 'older' });
    expect(tokenHeldBy(undefined, history)).toEqual({ age: 'older' });
    expect(tokenHeldBy(t(10), [])).toEqual({ age: 'older' });
  });
});

describe('fleetHistoryOf', () => {
  const current = { issuedAt: t(239), expiresAt: t(720) };

  test('a history whose newest record is AWSCURRENT is used as is', () => {
    const state = rotationStateOf({ VersionIdsToStages: { [V(3)]: ['AWSCURRENT'], [V(2)]: ['AWSPREVIOUS'] } });
    expect(fleetHistoryOf(history, state, current)).toEqual(history);
  });

  test('a deferred copy in AWSCURRENT repeats the token of the version before it', () => {
    const state = rotationStateOf({
      VersionIdsToStages: { [V(4)]: ['AWSCURRENT'], [V(3)]: ['AWSPREVIOUS'] },
      Tags: [{ Key: DeferredTag.key, Value: DeferredTag.encode({ versionId: V(4), at: t(270) }) }],
    });
    expect(fleetHistoryOf(history, state, current)).toEqual(history);
  });

  test('without a record of AWSCURRENT it goes in front, at the promoted tag time or else its issuedAt', () => {
    const tagged = rotationStateOf({
      VersionIdsToStages: { [V(3)]: ['AWSCURRENT'] },
      Tags: [{ Key: PromotedTag.key, Value: PromotedTag.encode({ versionId: V(3), at: t(241) }) }],
    });
    expect(fleetHistoryOf(history.slice(1), tagged, current)[0]).toEqual({ versionId: V(3), promotedAt: t(241), expiresAt: t(720) });
    const untagged = rotationStateOf({ VersionIdsToStages: { [V(3)]: ['AWSCURRENT'] } });
    expect(fleetHistoryOf([], untagged, current)).toEqual([{ versionId: V(3), promotedAt: t(239), expiresAt: t(720) }]);
  });

  test('no current token (the placeholder): the recorded history only', () => {
    expect(fleetHistoryOf([], rotationStateOf({}), undefined)).toEqual([]);
  });
});

describe('drill-down and heal rules', () => {
  test('a service runs older tasks only if a deployment predates the promotion or its time is unknown', () => {
    expect(mayRunOlderTasks([t(241), t(300)], t(240))).toBe(false);
    expect(mayRunOlderTasks([t(240)], t(240))).toBe(false);
    expect(mayRunOlderTasks([t(300), t(100)], t(240))).toBe(true);
    expect(mayRunOlderTasks([undefined], t(240))).toBe(true);
  });

  test('a heal is due once rolloutAllowance has passed since the promotion, only with stale tasks', () => {
    expect(healAfter(t(240), 1800)).toEqual(t(270));
    expect(healDue({ now: t(269), promotedAt: t(240), rolloutAllowanceSeconds: 1800, staleTasks: 3 })).toBe(false);
    expect(healDue({ now: t(270), promotedAt: t(240), rolloutAllowanceSeconds: 1800, staleTasks: 3 })).toBe(true);
    expect(healDue({ now: t(400), promotedAt: t(240), rolloutAllowanceSeconds: 1800, staleTasks: 0 })).toBe(false);
  });
});
