import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { log } from './log';

/** The name of chunk `index` (0-based): the construct names them `<base>`, `<base>-2`, `<base>-3`, ... */
export function chunkName(baseName: string, index: number): string {
  return index === 0 ? baseName : `${baseName}-${index + 1}`;
}

/**
 * Reads the ARNs of the services bound with `redeployOnRotation()`, stored
 * in `count` parameters of at most 30 ARNs each (a Standard parameter holds
 * 4 KB).
 *
 * The parameters are created after the bound services, which are created
 * after the first rotation; during that first rotation they do not exist yet
 * and no service can hold an old token, so "not found" means "none".
 */
export async function loadBoundServices(ssm: SSMClient, baseName: string, count = 1): Promise<string[]> {
  const arns: string[] = [];
  for (let i = 0; i < count; i++) {
    const chunk = await loadChunk(ssm, chunkName(baseName, i), i === 0);
    if (chunk === undefined) break;
    arns.push(...chunk);
  }
  return [...new Set(arns)];
}

async function loadChunk(ssm: SSMClient, parameterName: string, first: boolean): Promise<string[] | undefined> {
  let raw: string | undefined;
  try {
    raw = (await ssm.send(new GetParameterCommand({ Name: parameterName }))).Parameter?.Value;
  } catch (err) {
    if ((err as Error).name !== 'ParameterNotFound') throw err;
    log.warn(first
      ? 'bound services parameter does not exist yet (first rotation of a new stack); no service to redeploy'
      : 'a bound services parameter does not exist yet (a stack update is adding services); redeploying the ones listed so far',
    { parameter: parameterName });
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw ?? '[]');
  } catch {
    parsed = undefined; // not JSON: reported below with the parameter's name
  }
  if (!Array.isArray(parsed) || !parsed.every((arn) => typeof arn === 'string')) {
    throw new Error(`SSM parameter ${parameterName} must hold a JSON array of ECS service ARNs`);
  }
  return parsed;
}
