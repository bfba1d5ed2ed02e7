/**
 * Reading the bound services: the ECS services bound with
 * `redeployOnRotation()`, stored as JSON arrays in SSM parameters named
 * `<base>`, `<base>-2`, ... (lib/contract.ts boundServicesParameterName). An
 * entry is a service ARN, or `{"service": "<arn>", "codeDeploy": {...}}` for a
 * service bound with its CodeDeploy deployment group (CodeDeployTarget). The
 * rotation function and the CLI pass their own parameter reader.
 */
import { boundServicesParameterName, CodeDeployTarget } from '../lib/contract';

/** Reads one parameter's value; undefined when the parameter does not exist. */
export type ParameterReader = (name: string) => Promise<string | undefined>;

/** An entry of a bound-services parameter that is neither an ARN nor a well-formed object (or a value that is not a JSON array at all). */
export interface InvalidBoundEntry {
  readonly parameter: string;
  /** The entry's position in the array; undefined when the whole value is not a JSON array. */
  readonly index?: number;
  /** The entry as JSON, shortened: enough to find it, never a whole parameter value. */
  readonly entry: string;
}

export interface BoundServicesRead {
  /** Every bound service's ARN, de-duplicated, in binding order (those with a deployment group too). */
  readonly arns: string[];
  /** The deployment group of each service bound with one, by service ARN. */
  readonly codeDeploy: ReadonlyMap<string, CodeDeployTarget>;
  /** How many parameters were read. */
  readonly parametersRead: number;
  /** The first parameter that did not exist, when reading stopped there. */
  readonly missing?: string;
  /** Entries skipped because they are malformed (only when reading with `invalid: 'collect'`). */
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
  const codeDeploy = new Map<string, CodeDeployTarget>();
  const invalid: InvalidBoundEntry[] = [];
  const done = (parametersRead: number, missing?: string): BoundServicesRead => ({
    arns: [...new Set(arns)],
    codeDeploy,
    parametersRead,
    ...(missing !== undefined ? { missing } : {}),
    invalid,
  });
  for (let index = 0; index < count; index++) {
    const name = boundServicesParameterName(baseName, index);
    const raw = await read(name);
    if (raw === undefined) return done(index, name);
    const parsed = parseBoundServiceEntries(raw, name);
    if (options.invalid !== 'collect' && parsed.invalid.length > 0) throw malformed(name);
    arns.push(...parsed.arns);
    invalid.push(...parsed.invalid);
    // The first binding of a service wins, as for its ARN.
    for (const [arn, target] of parsed.codeDeploy) if (!codeDeploy.has(arn)) codeDeploy.set(arn, target);
  }
  return done(count);
}

/** One parameter's service ARNs (object entries' too); throws naming the parameter when an entry is malformed. */
export function parseBoundServices(raw: string, parameterName: string): string[] {
  const parsed = parseBoundServiceEntries(raw, parameterName);
  if (parsed.invalid.length > 0) throw malformed(parameterName);
  return parsed.arns;
}

function malformed(parameterName: string): Error {
  return new Error(
    `SSM parameter ${parameterName} must hold a JSON array of ECS service ARNs (or {"service", "codeDeploy"} objects); ` +
      'was it changed by hand? Deploy the stack again to restore it.',
  );
}

/** Longest excerpt of a bad entry that is quoted in errors and logs. */
const ENTRY_EXCERPT = 80;

export interface ParsedBoundEntries {
  /** Every well-formed entry's service ARN, in order. */
  readonly arns: string[];
  /** The deployment group of each object entry, by service ARN. */
  readonly codeDeploy: Map<string, CodeDeployTarget>;
  readonly invalid: InvalidBoundEntry[];
}

/**
 * One parameter's entries: ARNs and `{service, codeDeploy}` objects, and what
 * is neither (null, a number, an object of another shape: a hand edit, or a
 * bug) named by parameter and position. A value that is not a JSON array is
 * one invalid entry without an index.
 */
export function parseBoundServiceEntries(raw: string, parameterName: string): ParsedBoundEntries {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined; // not JSON: reported below with the parameter's name
  }
  const codeDeploy = new Map<string, CodeDeployTarget>();
  if (!Array.isArray(parsed)) {
    return {
      arns: [],
      codeDeploy,
      invalid: [{ parameter: parameterName, entry: excerpt(parsed === undefined ? raw : JSON.stringify(parsed)) }],
    };
  }
  const arns: string[] = [];
  const invalid: InvalidBoundEntry[] = [];
  parsed.forEach((entry: unknown, index) => {
    if (typeof entry === 'string') {
      arns.push(entry);
      return;
    }
    const object = codeDeployEntry(entry);
    if (object === undefined) {
      invalid.push({ parameter: parameterName, index, entry: excerpt(JSON.stringify(entry) ?? String(entry)) });
      return;
    }
    arns.push(object.service);
    if (!codeDeploy.has(object.service)) codeDeploy.set(object.service, object.target);
  });
  return { arns, codeDeploy, invalid };
}

/** `{"service": "<arn>", "codeDeploy": {"application": "...", "deploymentGroup": "..."}}`, every name a non-empty string. */
function codeDeployEntry(entry: unknown): { service: string; target: CodeDeployTarget } | undefined {
  if (!isRecord(entry) || !isName(entry.service) || !isRecord(entry.codeDeploy)) return undefined;
  const { application, deploymentGroup } = entry.codeDeploy;
  if (!isName(application) || !isName(deploymentGroup)) return undefined;
  return { service: entry.service, target: { application, deploymentGroup } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

/** `entry 3 of /p/bound-services-2 (null)`, or `/p/bound-services-2 ("oops": not a JSON array)`. */
export function describeInvalidEntry(e: InvalidBoundEntry): string {
  return e.index === undefined ? `${e.parameter} (${e.entry}: not a JSON array)` : `entry ${e.index} of ${e.parameter} (${e.entry})`;
}

function excerpt(text: string): string {
  return text.length <= ENTRY_EXCERPT ? text : `${text.slice(0, ENTRY_EXCERPT)}...`;
}
