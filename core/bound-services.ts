/**
 * Reading the bound services: the ARNs of the ECS services bound with
 * `redeployOnRotation()`, stored as JSON arrays in SSM parameters named
 * `<base>`, `<base>-2`, ... (lib/contract.ts boundServicesParameterName). The
 * rotation function and the CLI pass their own parameter reader.
 */
import { boundServicesParameterName } from '../lib/contract';

/** Reads one parameter's value; undefined when the parameter does not exist. */
export type ParameterReader = (name: string) => Promise<string | undefined>;

/** An entry of a bound-services parameter that is not a string (or a value that is not a JSON array at all). */
export interface InvalidBoundEntry {
  readonly parameter: string;
  /** The entry's position in the array; undefined when the whole value is not a JSON array. */
  readonly index?: number;
  /** The entry as JSON, shortened: enough to find it, never a whole parameter value. */
  readonly entry: string;
}

export interface BoundServicesRead {
  readonly arns: string[];
  /** How many parameters were read. */
  readonly parametersRead: number;
  /** The first parameter that did not exist, when reading stopped there. */
  readonly missing?: string;
  /** Entries skipped because they are not strings (only when reading with `invalid: 'collect'`). */
  readonly invalid: InvalidBoundEntry[];
}

export interface ReadBoundServicesOptions {
  /**
   * `throw` (the CLI): a malformed value is an error naming its parameter.
   * `collect` (the rotation function): malformed entries are returned in
   * `invalid` and every well-formed ARN is still returned, so one bad entry
   * never stops the other services' redeploys.
   * @default 'throw'
   */
  readonly invalid?: 'throw' | 'collect';
}

/**
 * Reads `<base>`, `<base>-2`, ... until `count` parameters were read or one
 * does not exist (a new stack: the parameters are created after the first
 * rotation; or a stack update is still adding one). Duplicates are dropped.
 */
export async function readBoundServices(
  baseName: string,
  read: ParameterReader,
  count = Infinity,
  options: ReadBoundServicesOptions = {},
): Promise<BoundServicesRead> {
  const arns: string[] = [];
  const invalid: InvalidBoundEntry[] = [];
  const done = (parametersRead: number, missing?: string): BoundServicesRead => ({
    arns: [...new Set(arns)],
    parametersRead,
    ...(missing !== undefined ? { missing } : {}),
    invalid,
  });
  for (let index = 0; index < count; index++) {
    const name = boundServicesParameterName(baseName, index);
    const raw = await read(name);
    if (raw === undefined) return done(index, name);
    if (options.invalid === 'collect') {
      const parsed = parseBoundServiceEntries(raw, name);
      arns.push(...parsed.arns);
      invalid.push(...parsed.invalid);
    } else {
      arns.push(...parseBoundServices(raw, name));
    }
  }
  return done(count);
}

/** One parameter's JSON array of service ARNs; throws naming the parameter otherwise. */
export function parseBoundServices(raw: string, parameterName: string): string[] {
  const parsed = parseBoundServiceEntries(raw, parameterName);
  if (parsed.invalid.length > 0) {
    throw new Error(
      `SSM parameter ${parameterName} must hold a JSON array of ECS service ARNs; ` +
        'was it changed by hand? Deploy the stack again to restore it.',
    );
  }
  return parsed.arns;
}

/** Longest excerpt of a bad entry that is quoted in errors and logs. */
const ENTRY_EXCERPT = 80;

/**
 * One parameter's string entries, and what is not a string (null, a number,
 * an object: a hand edit, or a bug) named by parameter and position. A value
 * that is not a JSON array is one invalid entry without an index.
 */
export function parseBoundServiceEntries(raw: string, parameterName: string): { arns: string[]; invalid: InvalidBoundEntry[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined; // not JSON: reported below with the parameter's name
  }
  if (!Array.isArray(parsed)) {
    return { arns: [], invalid: [{ parameter: parameterName, entry: excerpt(parsed === undefined ? raw : JSON.stringify(parsed)) }] };
  }
  const arns: string[] = [];
  const invalid: InvalidBoundEntry[] = [];
  parsed.forEach((entry: unknown, index) => {
    if (typeof entry === 'string') arns.push(entry);
    else invalid.push({ parameter: parameterName, index, entry: excerpt(JSON.stringify(entry) ?? String(entry)) });
  });
  return { arns, invalid };
}

/** `entry 3 of /p/bound-services-2 (null)`, or `/p/bound-services-2 ("oops": not a JSON array)`. */
export function describeInvalidEntry(e: InvalidBoundEntry): string {
  return e.index === undefined ? `${e.parameter} (${e.entry}: not a JSON array)` : `entry ${e.index} of ${e.parameter} (${e.entry})`;
}

function excerpt(text: string): string {
  return text.length <= ENTRY_EXCERPT ? text : `${text.slice(0, ENTRY_EXCERPT)}...`;
}
