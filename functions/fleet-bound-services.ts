/**
 * The fleet check's read of the bound services, kept across warm invocations of one execution environment.
 *
 * Why: the check runs every watchdogInterval, and in steady state its only other calls are one DescribeServices
 * per 10 services; reading the parameters every time (GetParameters, 10 names a call; 500 services with
 * CloudFormation-generated names fill 72 parameters) would add 8 calls to 50 and break the budget of
 * ⌈N/10⌉ + 3. The set of bound services changes only with a deployment of the stack.
 *
 * Why this key: the construct puts a synth-time fingerprint of every parameter's entries in the watchdog's
 * configuration (BoundServices.fingerprint), so binding or unbinding a service changes the function's environment;
 * a read is used only by an invocation whose own configuration has the same fingerprint, parameter name and count,
 * whatever Lambda does with warm environments after a configuration update.
 *
 * Why it also expires: the fingerprint hashes the template's expressions (a Ref), not the ARNs they resolve to, so a
 * service replaced under the same construct (new name or cluster, new ARN) or a parameter edited by hand leaves it
 * unchanged; and a stack update may change the function before the parameters, so that the new fingerprint's first
 * read gets the old values. Hence:
 * - a read is kept at most BOUND_SERVICES_TTL_MS (an hour);
 * - it is forgotten at once when the survey finds a bound service gone (a replaced service's old ARN is
 *   INACTIVE or unknown to ECS), so the next run reads the new ARN;
 * - a read that stopped at a missing parameter (a new stack, an update still adding one) is never kept.
 * Missing a new service for up to an hour risks no expired token: its tasks are new and hold AWSCURRENT. The rotation
 * function reads the parameters itself at every rotation, so its redeploys never depend on this.
 *
 * A cold start reads everything: the cache is this module's state, nothing is written anywhere.
 */
import { GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { BoundServicesRead, readBoundServices } from '../core/bound-services';
import { boundServicesParameterName, WatchdogFunctionConfig } from '../lib/contract';
import { RetryPolicy, withRetry } from './retry';

/** GetParameters takes at most 10 names per call. */
const GET_PARAMETERS_BATCH = 10;

/** The longest a read of the parameters is used for. */
export const BOUND_SERVICES_TTL_MS = 3600_000;

export interface BoundServicesLoad {
  readonly bound: BoundServicesRead;
  /** Whether the kept read of an earlier invocation was used. */
  readonly fromCache: boolean;
  /** When the services used were read from the parameters. */
  readonly readAt: Date;
}

type Config = Pick<WatchdogFunctionConfig, 'boundServicesParameter' | 'boundServicesParameterCount' | 'boundServicesFingerprint'>;

let kept: { key: string; readAt: Date; bound: BoundServicesRead } | undefined;

/**
 * The bound services: the kept read when it is for this configuration and younger than the TTL at `now`, else a
 * read now (`onCall` counts its GetParameters calls, failed ones included).
 */
export async function loadBoundServices(
  ssm: SSMClient,
  config: Config,
  now: Date,
  retry: RetryPolicy,
  onCall: () => void,
): Promise<BoundServicesLoad> {
  const key = JSON.stringify([config.boundServicesParameter, config.boundServicesParameterCount, config.boundServicesFingerprint]);
  const age = kept === undefined ? NaN : now.getTime() - kept.readAt.getTime();
  // A clock that went backwards is no reason to trust the read.
  if (kept !== undefined && kept.key === key && age >= 0 && age < BOUND_SERVICES_TTL_MS) {
    return { bound: kept.bound, fromCache: true, readAt: kept.readAt };
  }
  kept = undefined;
  const values = await prefetchParameters(ssm, config.boundServicesParameter, config.boundServicesParameterCount, retry, onCall);
  const bound = await readBoundServices(
    config.boundServicesParameter,
    async (name) => values.get(name),
    config.boundServicesParameterCount,
    {
      invalid: 'collect',
    },
  );
  if (bound.missing === undefined) kept = { key, readAt: now, bound };
  return { bound, fromCache: false, readAt: now };
}

/** The next invocation reads the parameters again (the survey found a bound service gone). */
export function forgetBoundServices(): void {
  kept = undefined;
}

/** Reads `<base>`, `<base>-2`, ... with GetParameters, 10 names a call; a parameter that does not exist is absent from the map. */
async function prefetchParameters(
  ssm: SSMClient,
  base: string,
  count: number,
  retry: RetryPolicy,
  onCall: () => void,
): Promise<Map<string, string>> {
  const names = Array.from({ length: count }, (_, i) => boundServicesParameterName(base, i));
  const values = new Map<string, string>();
  for (let i = 0; i < names.length; i += GET_PARAMETERS_BATCH) {
    const out = await withRetry(() => {
      onCall();
      return ssm.send(new GetParametersCommand({ Names: names.slice(i, i + GET_PARAMETERS_BATCH) }));
    }, retry);
    // Names that do not exist come back in InvalidParameters.
    for (const p of out.Parameters ?? []) if (p.Name !== undefined) values.set(p.Name, p.Value ?? '[]');
  }
  return values;
}
