import { clock, formatDuration, parseDuration, relative } from '../../cli/duration';

describe('parseDuration', () => {
  test.each([
    ['1s', 1_000],
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['45', 45_000],
    [' 10M ', 600_000],
    ['0.5', 500],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  test.each(['', 'abc', '5x', '10 m', '-5s', '1h 30m', 'm', '1s2', 's1', '1e3s', 'Infinity'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  test.each([
    [0, '0ms'],
    [800, '800ms'],
    [1_000, '1s'],
    [45_000, '45s'],
    [90_000, '1m 30s'],
    [3_600_000, '1h'],
    [3_660_000, '1h 1m'],
    [28_080_000, '7h 48m'],
    [93_600_000, '1d 2h'],
    [86_400_000, '1d'],
    [86_401_000, '1d'],
    [-120_000, '2m'],
  ])('%d ms is %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

test('relative says in … or … ago', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  expect(relative(new Date(now + 3_600_000), now)).toBe('in 1h');
  expect(relative(new Date(now - 90_000), now)).toBe('1m 30s ago');
  expect(relative(new Date(now + 500), now)).toBe('now');
});

test('clock shows m:ss, or h:mm:ss past an hour', () => {
  expect(clock(0)).toBe('0:00');
  expect(clock(7_000)).toBe('0:07');
  expect(clock(754_000)).toBe('12:34');
  expect(clock(3_723_000)).toBe('1:02:03');
});
