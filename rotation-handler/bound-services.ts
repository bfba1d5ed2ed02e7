import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { log } from './log';

/**
 * Reads the ARNs of the services bound with `redeployOnRotation()`.
 *
 * The parameter is created after the bound services, which are created after
 * the first rotation; during that first rotation it does not exist yet and no
 * service can hold an old token, so "not found" means "none".
 */
export async function loadBoundServices(ssm: SSMClient, parameterName: string): Promise<string[]> {
  let raw: string | undefined;
  try {
    raw = (await ssm.send(new GetParameterCommand({ Name: parameterName }))).Parameter?.Value;
  } catch (err) {
    if ((err as Error).name !== 'ParameterNotFound') throw err;
    log.warn('bound services parameter does not exist yet (first rotation of a new stack); no service to redeploy', { parameter: parameterName });
    return [];
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
