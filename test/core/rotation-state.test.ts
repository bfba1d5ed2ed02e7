import { currentTokenPromotedAt, isDeferredCopy, lastPromotionAt, promotionTimeOf, rotationStateOf } from '../../core/rotation-state';
import { DeferredTag, PromotedTag } from '../../lib/secret-tags';

const T = new Date('2030-05-01T10:00:00.000Z');
const UNTIL = new Date('2030-05-01T10:30:00.000Z');
const tags = (t: Record<string, string>) => Object.entries(t).map(([Key, Value]) => ({ Key, Value }));

describe('rotationStateOf', () => {
  test('reads current, previous and pending from the stages; versions without labels are left out', () => {
    const state = rotationStateOf({ VersionIdsToStages: { a: ['AWSPREVIOUS'], b: ['AWSCURRENT'], c: ['AWSPENDING'], d: [] } });

    expect(state).toMatchObject({ current: 'b', previous: 'a', pending: 'c', promoted: undefined, deferred: undefined });
    expect(Object.keys(state.stages).sort()).toEqual(['a', 'b', 'c']);
  });

  test('AWSPENDING on the AWSCURRENT version is not a rotation in progress', () => {
    expect(rotationStateOf({ VersionIdsToStages: { b: ['AWSCURRENT', 'AWSPENDING'] } }).pending).toBeUndefined();
  });

  test('no metadata: an empty state', () => {
    expect(rotationStateOf({})).toEqual({
      stages: {},
      current: undefined,
      previous: undefined,
      pending: undefined,
      promoted: undefined,
      deferred: undefined,
    });
  });

  test('reads the promoted and deferred tags, each with its version', () => {
    const state = rotationStateOf({
      VersionIdsToStages: { b: ['AWSCURRENT'] },
      Tags: tags({ [PromotedTag.key]: `b ${T.toISOString()}`, [DeferredTag.key]: `c ${UNTIL.toISOString()}` }),
    });

    expect(state.promoted).toEqual({ versionId: 'b', at: T });
    expect(state.deferred).toEqual({ versionId: 'c', until: UNTIL });
  });

  test.each(['', 'b', `b not-a-date`, `${T.toISOString()}`, `b ${T.toISOString()} extra`])(
    'a malformed tag value %j reads as no tag',
    (raw) => {
      const state = rotationStateOf({ Tags: tags({ [PromotedTag.key]: raw, [DeferredTag.key]: raw }) });

      expect(state.promoted).toBeUndefined();
      expect(state.deferred).toBeUndefined();
    },
  );
});

describe('promotion times', () => {
  const stages = { a: ['AWSPREVIOUS'], b: ['AWSCURRENT'] };

  test('promotionTimeOf: only for the version the tag names', () => {
    const state = rotationStateOf({ VersionIdsToStages: stages, Tags: tags({ [PromotedTag.key]: `b ${T.toISOString()}` }) });

    expect(promotionTimeOf(state, 'b')).toEqual(T);
    expect(promotionTimeOf(state, 'a')).toBeUndefined();
    expect(promotionTimeOf(state, undefined)).toBeUndefined();
  });

  test('the current token: its own promotion, or, for a deferred copy, the promotion of the version it copied', () => {
    const direct = rotationStateOf({ VersionIdsToStages: stages, Tags: tags({ [PromotedTag.key]: `b ${T.toISOString()}` }) });
    const copy = rotationStateOf({
      VersionIdsToStages: stages,
      Tags: tags({ [PromotedTag.key]: `a ${T.toISOString()}`, [DeferredTag.key]: `b ${UNTIL.toISOString()}` }),
    });
    const notACopy = rotationStateOf({ VersionIdsToStages: stages, Tags: tags({ [PromotedTag.key]: `a ${T.toISOString()}` }) });

    expect(currentTokenPromotedAt(direct)).toEqual(T);
    expect(currentTokenPromotedAt(copy)).toEqual(T);
    expect(isDeferredCopy(copy, 'b')).toBe(true);
    expect(isDeferredCopy(copy, 'a')).toBe(false);
    // AWSPREVIOUS's promotion is not the current token's when AWSCURRENT holds a new token.
    expect(currentTokenPromotedAt(notACopy)).toBeUndefined();
    expect(lastPromotionAt(notACopy)).toEqual(T);
  });

  test('a tag naming a version older than AWSPREVIOUS is no recent promotion', () => {
    const state = rotationStateOf({ VersionIdsToStages: stages, Tags: tags({ [PromotedTag.key]: `z ${T.toISOString()}` }) });

    expect(lastPromotionAt(state)).toBeUndefined();
    expect(currentTokenPromotedAt(state)).toBeUndefined();
  });
});

describe('tag codecs', () => {
  test('encode and decode are inverse', () => {
    for (const tag of [PromotedTag, DeferredTag]) {
      expect(tag.decode(tag.encode({ versionId: 'v-1', at: T }))).toEqual({ versionId: 'v-1', at: T });
      expect(tag.encode({ versionId: 'v-1', at: T })).toBe(`v-1 ${T.toISOString()}`);
    }
  });
});
