/**
 * Reading the bound functions: the Lambda functions bound with
 * `updateFunctionOnRotation()`, stored as JSON arrays of BoundFunctionEntry in
 * SSM parameters named `<base>`, `<base>-2`, ... (boundServicesParameterName),
 * like the bound services (core/bound-services.ts). The rotation function and
 * the watchdog read them; a malformed entry is reported by parameter and
 * position, and never stops the other functions' updates.
 */
import { LambdaClient } from '@aws-sdk/client-lambda';
import { GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { describeInvalidEntry, InvalidBoundEntry } from '../core/bound-services';
import { BoundFunctionEntry, boundServicesParameterName, DsqlUrlSecretValue, SECRET_FIELDS } from '../lib/contract';
import { forEachLimited } from './for-each-limited';
import { FunctionUpdateOptions, updateFunctionEnvironment } from './function-env-update';
import { log } from './log';
import { RetryPolicy } from './retry';

export interface LoadedBoundFunctions {
  /** Every well-formed entry, in binding order; a function listed twice keeps its first entry. */
  readonly functions: BoundFunctionEntry[];
  /** Malformed entries: the caller fails naming them, after updating the others. */
  readonly invalid: InvalidBoundEntry[];
}

/** An unqualified function ARN: `arn:<partition>:lambda:<region>:<account>:function:<name>`. */
const FUNCTION_ARN = /^arn:[a-z-]+:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}$/;
/** What Lambda accepts as an environment variable name. */
const VARIABLE_NAME = /^[a-zA-Z]\w*$/;
/** Alias names: letters, digits, - and _, not only digits (that would be a version). */
const ALIAS_NAME = /^(?!\d+$)[A-Za-z0-9_-]{1,128}$/;
/** Longest excerpt of a bad entry that is quoted in errors and logs. */
const ENTRY_EXCERPT = 80;

/**
 * Reads the `count` parameters the construct wrote. They are created after
 * the bound functions, which are created after the first rotation: during it
 * they do not exist yet and no function holds an old URL, so "not found"
 * means "none" (or, past the first, "none more yet": a stack update is adding one).
 */
export async function loadBoundFunctions(ssm: SSMClient, baseName: string, count = 1): Promise<LoadedBoundFunctions> {
  const functions: BoundFunctionEntry[] = [];
  const invalid: InvalidBoundEntry[] = [];
  const names = Array.from({ length: count }, (_, index) => boundServicesParameterName(baseName, index));
  const values = await getParameters(ssm, names);
  for (const [index, name] of names.entries()) {
    const raw = values.get(name);
    if (raw === undefined) {
      if (index > 0) log.warn('a bound functions parameter does not exist yet (a stack update is adding functions)', { parameter: name });
      break;
    }
    const parsed = parseBoundFunctionEntries(raw, name);
    for (const entry of parsed.functions) if (!functions.some((f) => f.functionArn === entry.functionArn)) functions.push(entry);
    invalid.push(...parsed.invalid);
  }
  for (const entry of invalid) {
    log.error('bound functions parameter holds an entry that is not a function binding; updating the others', {
      parameter: entry.parameter,
      index: entry.index,
      entry: describeInvalidEntry(entry),
    });
  }
  return { functions, invalid };
}

/**
 * One parameter's entries. A value that is not a JSON array is one invalid
 * entry without an index; so is nothing, since no reader could tell what was meant.
 */
export function parseBoundFunctionEntries(raw: string, parameterName: string): LoadedBoundFunctions {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined; // not JSON: reported below with the parameter's name, never the parser's message
  }
  if (!Array.isArray(parsed)) {
    return { functions: [], invalid: [{ parameter: parameterName, entry: excerpt(parsed === undefined ? raw : JSON.stringify(parsed)) }] };
  }
  const functions: BoundFunctionEntry[] = [];
  const invalid: InvalidBoundEntry[] = [];
  parsed.forEach((item: unknown, index) => {
    const entry = boundFunctionEntry(item);
    if (entry === undefined) invalid.push({ parameter: parameterName, index, entry: excerpt(JSON.stringify(item) ?? String(item)) });
    else functions.push(entry);
  });
  return { functions, invalid };
}

/** `{"functionArn", "variable", "field", "alias"}` with each value as the construct writes it; undefined otherwise. */
function boundFunctionEntry(item: unknown): BoundFunctionEntry | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return undefined;
  const { functionArn, variable, field, alias } = item as Record<string, unknown>;
  if (typeof functionArn !== 'string' || !FUNCTION_ARN.test(functionArn)) return undefined;
  if (typeof variable !== 'string' || !VARIABLE_NAME.test(variable)) return undefined;
  if (typeof field !== 'string' || !SECRET_FIELDS.includes(field)) return undefined;
  if (alias !== null && (typeof alias !== 'string' || !ALIAS_NAME.test(alias))) return undefined;
  return { functionArn, variable, field, alias };
}

export interface FunctionsReport {
  /** Functions whose variable was written now. */
  readonly updated: string[];
  /** Functions that already held the value (an earlier attempt, or a deploy since the promotion). */
  readonly alreadyCurrent: string[];
  /** Functions whose alias was moved to a version published now. */
  readonly aliasesMoved: string[];
  /** Lambda does not know the function (deleted): no invocation can use the old value; logged, not failed. */
  readonly notFound: string[];
  readonly failed: Array<{ functionArn: string; message: string }>;
  readonly throttleRetries: number;
}

/**
 * Writes the secret value's field into every bound function, at most
 * `concurrency` at a time (functions/function-env-update.ts). One failure
 * never stops the others; the caller decides what a non-empty `failed` means.
 */
export async function updateBoundFunctions(
  lambda: LambdaClient,
  functions: readonly BoundFunctionEntry[],
  value: Partial<DsqlUrlSecretValue> | undefined,
  options: FunctionUpdateOptions & { readonly concurrency: number },
): Promise<FunctionsReport> {
  const report = { updated: [], alreadyCurrent: [], aliasesMoved: [], notFound: [], failed: [], throttleRetries: 0 } as {
    -readonly [K in keyof FunctionsReport]: FunctionsReport[K];
  };
  await forEachLimited(functions, options.concurrency, async (entry) => {
    const fieldValue = fieldOf(value, entry.field);
    if (fieldValue === undefined) {
      report.failed.push({ functionArn: entry.functionArn, message: `the secret's value has no field ${entry.field} to write` });
      return;
    }
    try {
      const result = await updateFunctionEnvironment(lambda, entry, fieldValue, options);
      report.throttleRetries += result.throttleRetries;
      (result.updated ? report.updated : report.alreadyCurrent).push(entry.functionArn);
      if (result.aliasMoved) report.aliasesMoved.push(entry.functionArn);
    } catch (err) {
      const e = err as Error;
      if (e.name === 'ResourceNotFoundException') {
        log.warn('function not found, skipped: it was deleted, or its ARN is wrong', { functionArn: entry.functionArn });
        report.notFound.push(entry.functionArn);
        return;
      }
      log.error('function update failed', { functionArn: entry.functionArn, error: e.name, detail: e.message });
      report.failed.push({ functionArn: entry.functionArn, message: e.message });
    }
  });
  return report;
}

/** The field as the variable holds it: strings as they are, the port as digits; undefined when the value lacks it. */
export function fieldOf(value: Partial<DsqlUrlSecretValue> | undefined, field: string): string | undefined {
  const v = (value as Record<string, unknown> | undefined)?.[field];
  if (typeof v === 'string' && v !== '') return v;
  return typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
}

/** GetParameters takes at most 10 names per call. */
const GET_PARAMETERS_BATCH = 10;

/** The values of the parameters that exist, by name (GetParameters lists the others as InvalidParameters). */
async function getParameters(ssm: SSMClient, names: readonly string[]): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  for (let i = 0; i < names.length; i += GET_PARAMETERS_BATCH) {
    const out = await ssm.send(new GetParametersCommand({ Names: names.slice(i, i + GET_PARAMETERS_BATCH) }));
    for (const p of out.Parameters ?? []) if (p.Name !== undefined) values.set(p.Name, p.Value ?? '[]');
  }
  return values;
}

function excerpt(text: string): string {
  return text.length <= ENTRY_EXCERPT ? text : `${text.slice(0, ENTRY_EXCERPT)}...`;
}

export interface BoundFunctionsUpdate {
  readonly loaded: LoadedBoundFunctions;
  readonly report: FunctionsReport;
}

/** What finishSecret needs: the clients and settings of its step context. */
export interface FunctionsUpdateContext {
  readonly lambda: LambdaClient;
  readonly ssm: SSMClient;
  readonly config: {
    readonly boundFunctionsParameter: string;
    readonly boundFunctionsParameterCount: number;
    readonly redeployConcurrency: number;
  };
  readonly secretArn: string;
  readonly versionId: string;
  readonly retry?: RetryPolicy;
}

/** finishSecret's part for the bound functions: load them, write the promoted value into each, log one summary. */
export async function updateFunctionsAfterPromotion(
  ctx: FunctionsUpdateContext,
  value: Partial<DsqlUrlSecretValue> | undefined,
): Promise<BoundFunctionsUpdate> {
  const loaded = await loadBoundFunctions(ctx.ssm, ctx.config.boundFunctionsParameter, ctx.config.boundFunctionsParameterCount);
  const report = await updateBoundFunctions(ctx.lambda, loaded.functions, value, {
    concurrency: ctx.config.redeployConcurrency,
    retry: ctx.retry,
  });
  log.info('finishSecret: function update summary', {
    secretArn: ctx.secretArn,
    versionId: ctx.versionId,
    functions: loaded.functions.length,
    updated: report.updated.length,
    alreadyCurrent: report.alreadyCurrent.length,
    aliasesMoved: report.aliasesMoved.length,
    notFound: report.notFound.length,
    failed: report.failed.length,
    invalidEntries: loaded.invalid.length,
    throttleRetries: report.throttleRetries,
  });
  return { loaded, report };
}

/** Failed updates and malformed entries, counted for FunctionUpdateFailures. */
export function functionFailures(update: BoundFunctionsUpdate): number {
  return update.report.failed.length + update.loaded.invalid.length;
}

/** Sentences naming every function that failed and every malformed entry (the first starts with `but`, as finishSecret's). */
export function functionFailureSentences(update: BoundFunctionsUpdate, first: boolean): string[] {
  const { loaded, report } = update;
  const sentences: string[] = [];
  const lead = () => (first && sentences.length === 0 ? 'but' : 'Also');
  if (report.failed.length > 0) {
    const list = report.failed.map((f) => `${f.functionArn} (${f.message})`).join('; ');
    sentences.push(
      `${lead()} ${report.failed.length} of ${loaded.functions.length} bound functions could not be updated: ${list}. ` +
        'A retry updates only these.',
    );
  }
  if (loaded.invalid.length > 0) {
    const list = loaded.invalid.map(describeInvalidEntry).join('; ');
    sentences.push(
      `${lead()} ${loaded.invalid.length} bound-functions ${loaded.invalid.length === 1 ? 'entry is' : 'entries are'} not a function ` +
        `binding: ${list}; the other functions were updated. Was the parameter changed by hand? Deploy the stack again to restore it.`,
    );
  }
  return sentences;
}
