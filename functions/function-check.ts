/**
 * The watchdog's check of the bound Lambda functions: does each one's
 * variable (in $LATEST, and in the version its alias points to when bound
 * with one) hold AWSCURRENT's field? Compared by fingerprint; a stale one is
 * written again with finishSecret's code (functions/function-env-update.ts),
 * so a missed update, a hand edit or an old value put back heals within one
 * interval. Emits StaleFunctions: the functions still stale after that. Logs
 * function names and fingerprints only.
 */
import { GetAliasCommand, GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { BoundFunctionEntry, DsqlUrlSecretValue, MetricName, WatchdogFunctionConfig } from '../lib/contract';
import { forEachLimited } from './for-each-limited';
import { fieldOf, LoadedBoundFunctions, loadBoundFunctions } from './function-consumers';
import { fingerprint, functionNameOf, updateFunctionEnvironment } from './function-env-update';
import { log } from './log';
import { emitMetrics } from './metrics';
import { DEFAULT_RETRY, RetryPolicy, withRetry } from './retry';
import { readCurrentValue } from './secret-values';

/** The watchdog has a short timeout and runs again one interval later: fewer, shorter retries and waits than finishSecret's. */
const CHECK_RETRY: RetryPolicy = { ...DEFAULT_RETRY, maxAttempts: 5, maxDelayMs: 2_000 };
const CHECK_SETTLE_TIMEOUT_MS = 30_000;

export interface FunctionCheckInput {
  readonly lambda: LambdaClient;
  readonly ssm: SSMClient;
  readonly sm: SecretsManagerClient;
  readonly config: WatchdogFunctionConfig;
  readonly secretArn: string;
  /** AWSCURRENT's value as the token check read it. */
  readonly value: Partial<DsqlUrlSecretValue> | undefined;
  readonly now: Date;
  readonly retry?: RetryPolicy;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** What the check saw and did, in WatchdogResult. */
export interface FunctionCheckSummary {
  /** Bound functions read from the parameters. */
  readonly functions: number;
  /** Functions whose value was stale and was written again now. */
  readonly reapplied: string[];
  /** Functions still stale after the re-apply attempt, or that could not be read: StaleFunctions counts them. */
  readonly stale: string[];
  /** Functions Lambda does not know (deleted): nothing to heal. */
  readonly notFound: string[];
  /** Bound-functions entries that are not function bindings (counted in StaleFunctions: they are not checked). */
  readonly invalidEntries: number;
  /** Why the check did not run: AWSCURRENT holds no token yet (no metric), or the parameters could not be read. */
  readonly skipped?: string;
  readonly error?: string;
}

/**
 * Runs the check. Never throws: a parameter read that fails is `error`, for
 * the watchdog to fail its invocation once everything else ran (no metric
 * says anything then); a function that cannot be read or healed is `stale`.
 */
export async function checkFunctions(input: FunctionCheckInput): Promise<FunctionCheckSummary> {
  const empty = { functions: 0, reapplied: [], stale: [], notFound: [], invalidEntries: 0 };
  if (typeof input.value?.url !== 'string' || input.value.url === '') {
    // No token yet: the functions are created after the first rotation, which writes their value.
    return { ...empty, skipped: 'AWSCURRENT holds no token yet' };
  }
  let loaded: LoadedBoundFunctions;
  try {
    loaded = await loadBoundFunctions(input.ssm, input.config.boundFunctionsParameter, input.config.boundFunctionsParameterCount);
  } catch (err) {
    const error = `reading the bound functions parameters failed (${(err as Error).name}: ${(err as Error).message})`;
    log.error('function check: could not read the bound functions', { secretArn: input.secretArn, error });
    return { ...empty, error };
  }
  const summary = { ...empty, functions: loaded.functions.length, invalidEntries: loaded.invalid.length } as {
    functions: number;
    reapplied: string[];
    stale: string[];
    notFound: string[];
    invalidEntries: number;
  };
  const retry = input.retry ?? CHECK_RETRY;
  // Read once, only when something is stale: a rotation may have promoted since the token check read AWSCURRENT.
  let latest: Promise<Partial<DsqlUrlSecretValue> | undefined> | undefined;
  const currentValue = () => (latest ??= readCurrentValue(input.sm, input.secretArn).then((r) => r?.value));

  await forEachLimited(loaded.functions, input.config.redeployConcurrency, async (entry) => {
    const arn = entry.functionArn;
    try {
      const expected = fieldOf(input.value, entry.field);
      if (expected === undefined) throw new Error(`AWSCURRENT has no field ${entry.field}`);
      const seen = await valuesHeld(input.lambda, entry, retry);
      if (seen.every((v) => v !== undefined && fingerprint(v) === fingerprint(expected))) return;
      const value = fieldOf(await currentValue(), entry.field) ?? expected;
      log.warn('function check: the function does not hold AWSCURRENT; writing it again', {
        functionArn: arn,
        variable: entry.variable,
        heldFingerprints: seen.map((v) => (v === undefined ? 'unset' : fingerprint(v))).join(','),
        currentFingerprint: fingerprint(value),
      });
      await updateFunctionEnvironment(input.lambda, entry, value, { retry, sleep: input.sleep, settleTimeoutMs: CHECK_SETTLE_TIMEOUT_MS });
      summary.reapplied.push(arn);
    } catch (err) {
      const e = err as Error;
      if (e.name === 'ResourceNotFoundException') {
        log.warn('function check: function not found, skipped (deleted, or its ARN is wrong)', { functionArn: arn });
        summary.notFound.push(arn);
        return;
      }
      log.error('function check: the function could not be checked or healed', { functionArn: arn, error: e.name, detail: e.message });
      summary.stale.push(arn);
    }
  });

  emitMetrics(
    input.config.metricDimension,
    [{ name: MetricName.STALE_FUNCTIONS, value: summary.stale.length + summary.invalidEntries, unit: 'Count' }],
    input.now,
  );
  // Nothing bound: the metric (0) is enough; a summary line every interval would only be noise.
  if (summary.functions + summary.invalidEntries === 0) return summary;
  (summary.stale.length + summary.invalidEntries > 0 ? log.error : log.info)('function check: summary', {
    secretArn: input.secretArn,
    functions: summary.functions,
    reapplied: summary.reapplied.map(functionNameOf).join(',') || undefined,
    stale: summary.stale.map(functionNameOf).join(',') || undefined,
    notFound: summary.notFound.length,
    invalidEntries: summary.invalidEntries,
  });
  return summary;
}

/** The variable's value in $LATEST and, with an alias, in the version the alias points to (undefined: not set). */
async function valuesHeld(lambda: LambdaClient, entry: BoundFunctionEntry, retry: RetryPolicy): Promise<Array<string | undefined>> {
  const FunctionName = entry.functionArn;
  const read = async (Qualifier?: string) => {
    const config = await withRetry(() => lambda.send(new GetFunctionConfigurationCommand({ FunctionName, Qualifier })), retry);
    const error = config.Environment?.Error;
    // Unreadable is stale: the re-apply then fails naming the key (functions/function-env-update.ts).
    return error === undefined ? config.Environment?.Variables?.[entry.variable] : undefined;
  };
  const values = [await read()];
  if (entry.alias !== null) {
    const alias = await withRetry(() => lambda.send(new GetAliasCommand({ FunctionName, Name: entry.alias! })), retry);
    if (alias.FunctionVersion !== undefined && alias.FunctionVersion !== '$LATEST') values.push(await read(alias.FunctionVersion));
  }
  return values;
}
