import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { describeInvalidEntry, InvalidBoundEntry, readBoundServices } from '../core/bound-services';
import { CodeDeployTarget } from '../lib/contract';
import { log } from './log';

export interface LoadedBoundServices {
  /** Every well-formed entry's service ARN, de-duplicated, in binding order. */
  readonly arns: string[];
  /** The deployment group of each service bound with one (CODE_DEPLOY controller), by service ARN. */
  readonly codeDeploy: ReadonlyMap<string, CodeDeployTarget>;
  /** Malformed entries (see core/bound-services.ts): the step fails naming them, after redeploying the others. */
  readonly invalid: InvalidBoundEntry[];
}

/**
 * Reads the ARNs of the services bound with `redeployOnRotation()` from the
 * `count` parameters the construct wrote (see core/bound-services.ts).
 *
 * The parameters are created after the bound services, which are created
 * after the first rotation; during that first rotation they do not exist yet
 * and no service can hold an old token, so "not found" means "none".
 */
export async function loadBoundServices(ssm: SSMClient, baseName: string, count = 1): Promise<LoadedBoundServices> {
  const read = await readBoundServices(baseName, (name) => getParameter(ssm, name), count, { invalid: 'collect' });
  if (read.missing !== undefined) {
    log.warn(
      read.parametersRead === 0
        ? 'bound services parameter does not exist yet (first rotation of a new stack); no service to redeploy'
        : 'a bound services parameter does not exist yet (a stack update is adding services); redeploying the ones listed so far',
      { parameter: read.missing },
    );
  }
  for (const entry of read.invalid) {
    log.error('bound services parameter holds an entry that is not a service ARN or binding; redeploying the others', {
      parameter: entry.parameter,
      index: entry.index,
      entry: describeInvalidEntry(entry),
    });
  }
  return { arns: read.arns, codeDeploy: read.codeDeploy, invalid: read.invalid };
}

async function getParameter(ssm: SSMClient, name: string): Promise<string | undefined> {
  try {
    return (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value ?? '[]';
  } catch (err) {
    if ((err as Error).name === 'ParameterNotFound') return undefined;
    throw err;
  }
}
