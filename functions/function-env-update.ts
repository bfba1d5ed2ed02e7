/**
 * Writing the URL (or another field of the secret) into one bound Lambda
 * function's environment variable, as finishSecret and the watchdog do.
 *
 * UpdateFunctionConfiguration replaces the whole variables map, so it is a
 * read-modify-write of the map with the revision id read: a change someone
 * made in between is refused by Lambda (PreconditionFailedException) and the
 * write is done again on top of it, never over it. Every pass starts by
 * reading, so a retried finishSecret that finds the value in place writes
 * nothing. Only a fingerprint of the value is ever logged.
 */
import { createHash } from 'crypto';
import {
  FunctionConfiguration,
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  PublishVersionCommand,
  UpdateAliasCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { redact } from '../core/redact';
import { BoundFunctionEntry } from '../lib/contract';
import { log } from './log';
import { DEFAULT_RETRY, RetryPolicy, withRetry } from './retry';

/**
 * Lambda's limit on all environment variables together: the variables object
 * as stored, that is its JSON (`{"KEY":"value",...}`), at most 4096 bytes
 * (Lambda troubleshooting guide, InvalidParameterValueException).
 */
export const ENVIRONMENT_LIMIT_BYTES = 4096;

export interface FunctionUpdateOptions {
  /** Throttling (TooManyRequestsException, 5xx) of each call. */
  readonly retry?: RetryPolicy;
  /** How long one update or one published version may take to become ready. */
  readonly settleTimeoutMs?: number;
  /** First wait between two reads of an update in progress (then 1.5 times longer, at most 5 s). */
  readonly pollIntervalMs?: number;
  /** How many passes a concurrent change or an update in progress may cost before the update fails. */
  readonly maxPasses?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

export interface FunctionUpdateResult {
  /** The variable was written now (false: it already held the value). */
  readonly updated: boolean;
  /** The alias was pointed at a version published now (false: no alias, or its version already held the value). */
  readonly aliasMoved: boolean;
  /** The version the alias points to after a move. */
  readonly publishedVersion?: string;
  readonly throttleRetries: number;
  /** Passes repeated after a concurrent change (revision id) or an update in progress. */
  readonly repeatedPasses: number;
}

/** Another change came between the read and the write: the pass is done again from the read. */
class ConcurrentChange extends Error {
  override readonly name = 'ConcurrentChange';
}

const REPEAT_PASS = new Set(['PreconditionFailedException', 'ResourceConflictException', 'ConcurrentChange']);
const MAX_POLL_INTERVAL_MS = 5_000;

/** The first 12 hex characters of the value's SHA-256: what logs and comparisons show of a value. */
export function fingerprint(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 12);
}

/** The function's name, the last part of its unqualified ARN: what messages show. */
export function functionNameOf(functionArn: string): string {
  return functionArn.slice(functionArn.lastIndexOf(':') + 1);
}

/** The size Lambda counts for these variables (see ENVIRONMENT_LIMIT_BYTES). */
export function environmentSize(variables: Record<string, string>): number {
  return Buffer.byteLength(JSON.stringify(variables));
}

/**
 * Makes `entry.variable` of the function hold `value` in $LATEST and, with an
 * alias, in the version the alias points to. Throws an error naming the
 * function when it cannot: the 4 KB limit, an environment it cannot read
 * (a customer-managed key without kms:Decrypt), a failed update, or a wait
 * or a run of concurrent changes beyond the bounds. ResourceNotFoundException
 * passes unchanged (the function was deleted).
 */
export async function updateFunctionEnvironment(
  lambda: LambdaClient,
  entry: BoundFunctionEntry,
  value: string,
  options: FunctionUpdateOptions = {},
): Promise<FunctionUpdateResult> {
  return new FunctionUpdate(lambda, entry, value, options).run();
}

class FunctionUpdate {
  private updated = false;
  private aliasMoved = false;
  private publishedVersion?: string;
  private throttleRetries = 0;
  private repeatedPasses = 0;
  private readonly name: string;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(
    private readonly lambda: LambdaClient,
    private readonly entry: BoundFunctionEntry,
    private readonly value: string,
    private readonly options: FunctionUpdateOptions,
  ) {
    this.name = functionNameOf(entry.functionArn);
    this.sleep = options.sleep ?? options.retry?.sleep ?? DEFAULT_RETRY.sleep;
    this.now = options.now ?? Date.now;
  }

  async run(): Promise<FunctionUpdateResult> {
    const maxPasses = this.options.maxPasses ?? 5;
    for (let pass = 1; ; pass++) {
      try {
        await this.pass();
        break;
      } catch (err) {
        const name = (err as Error).name;
        if (!REPEAT_PASS.has(name) || pass >= maxPasses) throw this.explain(err, pass);
        this.repeatedPasses++;
        log.warn('function update: the function changed or was being updated meanwhile; reading it again', {
          functionArn: this.entry.functionArn,
          reason: name,
          pass,
        });
        // Another update is running: give it time. A revision mismatch is read again at once.
        if (name === 'ResourceConflictException') await this.sleep(this.pollInterval(pass));
      }
    }
    return {
      updated: this.updated,
      aliasMoved: this.aliasMoved,
      ...(this.publishedVersion !== undefined ? { publishedVersion: this.publishedVersion } : {}),
      throttleRetries: this.throttleRetries,
      repeatedPasses: this.repeatedPasses,
    };
  }

  /** Read, write when needed, wait until Lambda applied it; then the alias. */
  private async pass(): Promise<void> {
    let latest = await this.settled(undefined, false);
    if (!this.holds(latest) || latest.LastUpdateStatus === 'Failed') {
      const merged = { ...this.variables(latest), [this.entry.variable]: this.value };
      this.checkSize(merged);
      await this.call(() =>
        this.lambda.send(
          new UpdateFunctionConfigurationCommand({
            FunctionName: this.entry.functionArn,
            Environment: { Variables: merged },
            RevisionId: latest.RevisionId,
          }),
        ),
      );
      this.updated = true;
      latest = await this.settled(undefined, true);
      // Someone wrote the variable after our update: write again, on top of theirs.
      if (!this.holds(latest)) throw new ConcurrentChange('the variable changed after the update');
      log.info('function update: environment variable written', {
        functionArn: this.entry.functionArn,
        variable: this.entry.variable,
        valueFingerprint: fingerprint(this.value),
      });
    }
    if (this.entry.alias !== null) await this.moveAlias(this.entry.alias, latest);
  }

  /** Publishes $LATEST (at the revision that holds the value) and points the alias at it, unless its version holds the value. */
  private async moveAlias(aliasName: string, latest: FunctionConfiguration): Promise<void> {
    const FunctionName = this.entry.functionArn;
    const alias = await this.call(() => this.lambda.send(new GetAliasCommand({ FunctionName, Name: aliasName })));
    // An alias on $LATEST sees the update; a version that holds the value needs nothing.
    if (alias.FunctionVersion === '$LATEST' || alias.FunctionVersion === undefined) return;
    const current = await this.call(() =>
      this.lambda.send(new GetFunctionConfigurationCommand({ FunctionName, Qualifier: alias.FunctionVersion })),
    );
    if (this.holds(current)) return;
    // Lambda publishes nothing new when $LATEST is unchanged since the last version: a retry reuses that version.
    const published = await this.call(() => this.lambda.send(new PublishVersionCommand({ FunctionName, RevisionId: latest.RevisionId })));
    const version = published.Version!;
    const ready = await this.settled(version, true);
    if (!this.holds(ready)) throw new ConcurrentChange(`version ${version} does not hold the value`);
    await this.call(() =>
      this.lambda.send(new UpdateAliasCommand({ FunctionName, Name: aliasName, FunctionVersion: version, RevisionId: alias.RevisionId })),
    );
    this.aliasMoved = true;
    this.publishedVersion = version;
    log.info('function update: alias moved to a version published with the value', {
      functionArn: FunctionName,
      alias: aliasName,
      version,
      previousVersion: alias.FunctionVersion,
      valueFingerprint: fingerprint(this.value),
    });
  }

  /**
   * The configuration once no update is in progress (and, for a version, once
   * it is no longer Pending). `ours`: the update or version is ours, so Failed
   * is our failure, named with Lambda's reason.
   */
  private async settled(qualifier: string | undefined, ours: boolean): Promise<FunctionConfiguration> {
    const deadline = this.now() + (this.options.settleTimeoutMs ?? 120_000);
    const what = qualifier === undefined ? 'the update' : `version ${qualifier}`;
    for (let poll = 1; ; poll++) {
      const config = await this.call(() =>
        this.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: this.entry.functionArn, Qualifier: qualifier })),
      );
      const failed = config.LastUpdateStatus === 'Failed' || config.State === 'Failed';
      if (ours && failed) {
        const reason = config.LastUpdateStatusReason ?? config.StateReason ?? 'no reason given';
        const code = config.LastUpdateStatusReasonCode ?? config.StateReasonCode;
        throw new Error(`Lambda reports ${what} of ${this.name} Failed (${code ? `${code}: ` : ''}${reason})`);
      }
      if (config.LastUpdateStatus !== 'InProgress' && config.State !== 'Pending') return config;
      if (this.now() >= deadline) {
        throw new Error(
          `${what} of ${this.name} was still in progress after ${Math.round((this.options.settleTimeoutMs ?? 120_000) / 1000)} s ` +
            '(LastUpdateStatus InProgress); a retry continues from there',
        );
      }
      await this.sleep(this.pollInterval(poll));
    }
  }

  private pollInterval(attempt: number): number {
    return Math.min(MAX_POLL_INTERVAL_MS, Math.round((this.options.pollIntervalMs ?? 1_000) * 1.5 ** (attempt - 1)));
  }

  /** The variables, or an error when Lambda could not decrypt them: writing a map without them would erase them. */
  private variables(config: FunctionConfiguration): Record<string, string> {
    const error = config.Environment?.Error;
    if (error !== undefined) {
      throw new Error(
        `could not read the environment variables of ${this.name} (${error.ErrorCode ?? 'error'}: ${error.Message ?? 'no message'}); ` +
          "nothing was written: with a customer-managed key (KMSKeyArn) the rotation function's role needs kms:Decrypt and " +
          'kms:Encrypt on it (see README, Lambda consumers)',
      );
    }
    return { ...(config.Environment?.Variables ?? {}) };
  }

  private holds(config: FunctionConfiguration): boolean {
    return this.variables(config)[this.entry.variable] === this.value;
  }

  private checkSize(merged: Record<string, string>): void {
    const size = environmentSize(merged);
    if (size <= ENVIRONMENT_LIMIT_BYTES) return;
    throw new Error(
      `the environment variables of ${this.name} would take ${size} bytes with the new value of ${this.entry.variable} ` +
        `(${Buffer.byteLength(this.value)} bytes), over Lambda's limit of ${ENVIRONMENT_LIMIT_BYTES} bytes for all of them together; ` +
        'nothing was written. Move other values out of its environment, or sign with TokenSigner.managedAccessKey() (shorter URLs)',
    );
  }

  private call<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, this.options.retry ?? DEFAULT_RETRY, () => {
      this.throttleRetries++;
    });
  }

  /** The error the caller reports: the function named, AWS's message without the environment it may quote. */
  private explain(err: unknown, pass: number): Error {
    const e = err as Error;
    if (e.name === 'ResourceNotFoundException') return e;
    const message = redact((e.message ?? String(err)).replace(/\s*String measured:[\s\S]*$/, ''));
    if (REPEAT_PASS.has(e.name)) {
      return new Error(
        `${this.name} kept changing or updating while we wrote it (${e.name} after ${pass} passes): ${message}; a retry reads it again`,
      );
    }
    return Object.assign(new Error(message.includes(this.name) ? message : `${this.name}: ${message}`), { name: e.name });
  }
}
