/**
 * Reading the bound services: the ARNs of the ECS services bound with
 * `redeployOnRotation()`, stored as JSON arrays in SSM parameters named
 * `<base>`, `<base>-2`, ... (lib/contract.ts boundServicesParameterName). The
 * rotation function and the CLI pass their own parameter reader.
 */
import { boundServicesParameterName } from '../lib/contract';

/** Reads one parameter's value; undefined when the parameter does not exist. */
export type ParameterReader = (name: string) => Promise<string | undefined>;

export interface BoundServicesRead {
  readonly arns: string[];
  /** How many parameters were read. */
  readonly parametersRead: number;
  /** The first parameter that did not exist, when reading stopped there. */
  readonly missing?: string;
}

/**
 * Reads `<base>`, `<base>-2`, ... until `count` parameters were read or one
 * does not exist (a new stack: the parameters are created after the first
 * rotation; or a stack update is still adding one). Duplicates are dropped.
 */
export async function readBoundServices(baseName: string, read: ParameterReader, count = Infinity): Promise<BoundServicesRead> {
  const arns: string[] = [];
  for (let index = 0; index < count; index++) {
    const name = boundServicesParameterName(baseName, index);
    const raw = await read(name);
    if (raw === undefined) return { arns: [...new Set(arns)], parametersRead: index, missing: name };
    arns.push(...parseBoundServices(raw, name));
  }
  return { arns: [...new Set(arns)], parametersRead: count };
}

/** One parameter's JSON array of service ARNs; throws naming the parameter otherwise. */
export function parseBoundServices(raw: string, parameterName: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined; // not JSON: reported below with the parameter's name
  }
  if (!Array.isArray(parsed) || !parsed.every((arn) => typeof arn === 'string')) {
    throw new Error(
      `SSM parameter ${parameterName} must hold a JSON array of ECS service ARNs; ` +
        'was it changed by hand? Deploy the stack again to restore it.',
    );
  }
  return parsed;
}
