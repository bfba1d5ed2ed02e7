import { DEFAULT_RETRY, isRetryable, withRetry } from '../../functions/retry';
import { awsError, recordingRetry, throttling } from './fixtures';

/** A function that fails with the given errors, in order, then returns 'ok'. */
function failingWith(...errors: Error[]): jest.Mock<Promise<string>, []> {
  const fn = jest.fn<Promise<string>, []>();
  for (const err of errors) fn.mockRejectedValueOnce(err);
  fn.mockResolvedValue('ok');
  return fn;
}

describe('isRetryable', () => {
  test.each(['ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded', 'ServerException', 'ServiceUnavailableException'])(
    '%s is retryable',
    (name) => expect(isRetryable(awsError(name))).toBe(true),
  );

  test('any 5xx is retryable', () => expect(isRetryable(awsError('InternalFailure', 'boom', 503))).toBe(true));

  test.each(['AccessDeniedException', 'ClientException', 'InvalidParameterException', 'ServiceNotFoundException'])(
    '%s is not retryable',
    (name) => expect(isRetryable(awsError(name))).toBe(false),
  );

  test('plain errors and non-Error values are not retryable', () => {
    expect(isRetryable(new Error('plain'))).toBe(false);
    expect(isRetryable('a string')).toBe(false);
  });
});

describe('withRetry', () => {
  test('returns at once when the call succeeds', async () => {
    const policy = recordingRetry();
    const fn = failingWith();

    await expect(withRetry(fn, policy)).resolves.toBe('ok');
    expect(fn).toHaveBeenCalledTimes(1);
    expect(policy.sleeps).toEqual([]);
  });

  test('a non-retryable error is thrown at once, without sleeping', async () => {
    const policy = recordingRetry();
    const denied = awsError('AccessDeniedException');
    const fn = failingWith(denied);
    const onRetry = jest.fn();

    await expect(withRetry(fn, policy, onRetry)).rejects.toBe(denied);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(onRetry).not.toHaveBeenCalled();
    expect(policy.sleeps).toEqual([]);
  });

  test('retryable errors are retried until the call succeeds, and each retry is reported', async () => {
    const policy = recordingRetry({ maxAttempts: 5 });
    const fn = failingWith(throttling(), throttling(), throttling());
    const onRetry = jest.fn();

    await expect(withRetry(fn, policy, onRetry)).resolves.toBe('ok');
    expect(fn).toHaveBeenCalledTimes(4);
    expect(onRetry.mock.calls.map(([attempt]) => attempt)).toEqual([1, 2, 3]);
    expect(policy.sleeps).toHaveLength(3);
  });

  test('a retryable error that never ends is thrown after maxAttempts calls', async () => {
    const policy = recordingRetry({ maxAttempts: 4 });
    const last = throttling();
    const fn = failingWith(throttling(), throttling(), throttling(), last, throttling());

    await expect(withRetry(fn, policy)).rejects.toBe(last);
    expect(fn).toHaveBeenCalledTimes(4);
    expect(policy.sleeps).toHaveLength(3);
  });

  test('delays stay under the exponential ceiling (capped at maxDelayMs) and grow with the attempt', async () => {
    const policy = recordingRetry({ maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.999 });
    const fn = failingWith(...Array.from({ length: 7 }, throttling));

    await withRetry(fn, policy);

    const ceilings = [100, 200, 400, 800, 1000, 1000, 1000];
    expect(policy.sleeps).toEqual(ceilings.map((c) => Math.floor(0.999 * c)));
    policy.sleeps.forEach((ms, i) => expect(ms).toBeLessThan(ceilings[i]));
  });

  test('with real jitter every delay is within [0, ceiling)', async () => {
    const policy = recordingRetry({ maxAttempts: 8, baseDelayMs: 50, maxDelayMs: 300, random: Math.random });
    const fn = failingWith(...Array.from({ length: 7 }, throttling));

    await withRetry(fn, policy);

    const ceilings = [50, 100, 200, 300, 300, 300, 300];
    expect(policy.sleeps).toHaveLength(7);
    policy.sleeps.forEach((ms, i) => {
      expect(Number.isInteger(ms)).toBe(true);
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(ceilings[i]);
    });
  });

  test('the default policy bounds a throttled call to 10 attempts and 10 s per wait', () => {
    expect(DEFAULT_RETRY.maxAttempts).toBe(10);
    expect(DEFAULT_RETRY.maxDelayMs).toBe(10_000);
  });
});
