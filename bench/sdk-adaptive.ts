/**
 * Benchmark-only "sdk-adaptive" variant: the SDK's own client-side rate limiting (`retryMode:
 * 'adaptive'`) in place of the project's Pacer and retry loop, to settle whether it could replace them.
 *
 * It runs the REAL redeployServices (same DescribeServices batches, same classification, same
 * concurrency) with the policy's `maxAttempts: 1`, which turns the project's throttling machinery off
 * without touching production code: updateWithPacing and withRetry give up after one attempt, so the
 * Pacer is never widened (gap 0: acquire() never waits). Every retry, and all pacing, is then the SDK's,
 * on an ECSClient with `retryMode: 'adaptive'` and the same attempt budget DEFAULT_RETRY has.
 */
import { ECSClient, ECSClientConfig } from '@aws-sdk/client-ecs';
import { redeployServices, RedeployReport } from '../functions/redeploy';
import { DEFAULT_RETRY } from '../functions/retry';

export const SDK_ADAPTIVE_MAX_ATTEMPTS = DEFAULT_RETRY.maxAttempts;

export interface SdkAdaptiveResult {
  readonly report: RedeployReport;
  /** SDK retries (sum of $metadata.attempts - 1), successes and failures alike. */
  readonly retries: number;
  /** Calls that failed with attempts left: the SDK's retry quota (500 tokens, 5 per throttle retry) refused a retry. */
  readonly quotaRefusals: number;
  /** The SDK retry quota left at the end of the run (starts at 500). */
  readonly quotaLeft: number | undefined;
}

export async function redeployWithSdkAdaptive(
  config: ECSClientConfig,
  serviceArns: readonly string[],
  options: { promotedAt: Date; concurrency: number },
): Promise<SdkAdaptiveResult> {
  const client = new ECSClient({ ...config, retryMode: 'adaptive', maxAttempts: SDK_ADAPTIVE_MAX_ATTEMPTS });
  let retries = 0;
  let quotaRefusals = 0;
  // Outermost step, so it sees the attempts the retry middleware recorded on the result or the error.
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        const result = await next(args);
        retries += ((result.output as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1) - 1;
        return result;
      } catch (err) {
        const attempts = (err as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1;
        retries += attempts - 1;
        if (attempts < SDK_ADAPTIVE_MAX_ATTEMPTS && (err as { name?: string }).name === 'ThrottlingException') quotaRefusals++;
        throw err;
      }
    },
    { step: 'initialize', name: 'benchCountSdkAttempts' },
  );
  try {
    const report = await redeployServices(client, serviceArns, {
      promotedAt: options.promotedAt,
      concurrency: options.concurrency,
      retry: { ...DEFAULT_RETRY, maxAttempts: 1 },
    });
    const strategy = (await client.config.retryStrategy()) as { standardRetryStrategy?: { getCapacity?: () => number } };
    return { report, retries, quotaRefusals, quotaLeft: strategy.standardRetryStrategy?.getCapacity?.() };
  } finally {
    client.destroy();
  }
}
