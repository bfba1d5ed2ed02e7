/**
 * A model in front of moto's Lambda (attached to the fault proxy's hooks)
 * that answers as AWS does where moto 5.2.1 differs for the calls that keep
 * a bound function's variable fresh:
 *
 * - RevisionId: moto reports none for a function's configuration and
 *   ignores the one UpdateFunctionConfiguration and PublishVersion are given.
 *   Here every function has one, new after each change, added to
 *   GetFunctionConfiguration's answer; a call with a stale one is refused
 *   with PreconditionFailedException (412), as AWS refuses it.
 * - LastUpdateStatus: moto reports Successful at once. Here an update is
 *   InProgress for the next `readsPerUpdate` reads of $LATEST, and an
 *   update or a publication meanwhile is refused with
 *   ResourceConflictException (409).
 * - The 4 KB limit: moto stores any size. Here a variables object over 4096
 *   bytes of JSON is refused with InvalidParameterValueException, quoting it
 *   as Lambda does ("String measured: ...").
 *
 * `changeOutOfBand` is someone else's change (a deploy, the console),
 * written to moto directly; `beforeUpdate` runs before each
 * UpdateFunctionConfiguration is checked, to change the function between a
 * caller's read and its write.
 */
import { randomUUID } from 'crypto';
import { GetFunctionConfigurationCommand, LambdaClient, UpdateFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { FaultProxy } from './fault-proxy';
import { MotoServer } from './moto-server';

export interface LambdaModel {
  /** How many reads of $LATEST after each update answer InProgress (default 2). */
  readsPerUpdate: number;
  /** Called (and awaited) before each UpdateFunctionConfiguration reaching the model is checked. */
  beforeUpdate?: (functionName: string) => Promise<void>;
  /** UpdateFunctionConfiguration calls that reached moto, per function name. */
  readonly updatesForwarded: Map<string, number>;
  /** Calls refused with PreconditionFailedException, per function name. */
  readonly preconditionFailures: Map<string, number>;
  /** Calls refused because the variables exceeded 4 KB, per function name. */
  readonly sizeRefusals: Map<string, number>;
  /** Sets variables of $LATEST in moto as someone else would (merged into the current ones): a new revision. */
  changeOutOfBand(functionName: string, variables: Record<string, string>): Promise<void>;
}

const CONFIGURATION = /^(GET|PUT) \/2015-03-31\/functions\/([^/?]+)\/configuration(\?.*)?$/;
const VERSIONS = /^POST \/2015-03-31\/functions\/([^/?]+)\/versions$/;
const LIMIT_BYTES = 4096;

/** `my-fn` from `my-fn`, `arn:...:function:my-fn` or either URL-encoded. */
function nameOf(encoded: string): string {
  const decoded = decodeURIComponent(encoded);
  return decoded.includes(':function:') ? decoded.split(':function:')[1].split(':')[0] : decoded.split(':')[0];
}

class AwsError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export function attachLambdaModel(proxy: FaultProxy, moto: MotoServer): LambdaModel {
  const motoLambda = new LambdaClient(moto.clientConfig());
  const revisions = new Map<string, string>();
  const inProgress = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const revisionOf = (name: string) => revisions.get(name) ?? revisions.set(name, randomUUID()).get(name)!;

  const model: LambdaModel = {
    readsPerUpdate: 2,
    updatesForwarded: new Map(),
    preconditionFailures: new Map(),
    sizeRefusals: new Map(),
    changeOutOfBand: async (functionName, variables) => {
      const current = await motoLambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
      const merged = { ...(current.Environment?.Variables ?? {}), ...variables };
      await motoLambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: functionName, Environment: { Variables: merged } }));
      revisions.set(functionName, randomUUID());
    },
  };

  const refusal = async (operation: string, body: string): Promise<AwsError | undefined> => {
    const config = CONFIGURATION.exec(operation);
    const publish = VERSIONS.exec(operation);
    if (config?.[1] !== 'PUT' && publish === null) return undefined;
    const name = nameOf(config?.[2] ?? publish![1]);
    if (config !== null) await model.beforeUpdate?.(name);
    const input = JSON.parse(body || '{}') as { RevisionId?: string; Environment?: { Variables?: Record<string, string> } };
    if ((inProgress.get(name) ?? 0) > 0) {
      return new AwsError(
        'ResourceConflictException',
        `The operation cannot be performed at this time. An update is in progress for resource: ${name}`,
        409,
      );
    }
    if (input.RevisionId !== undefined && input.RevisionId !== revisionOf(name)) {
      bump(model.preconditionFailures, name);
      return new AwsError(
        'PreconditionFailedException',
        'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
        412,
      );
    }
    const variables = input.Environment?.Variables;
    if (variables !== undefined && Buffer.byteLength(JSON.stringify(variables)) > LIMIT_BYTES) {
      bump(model.sizeRefusals, name);
      return new AwsError(
        'InvalidParameterValueException',
        'Lambda was unable to configure your environment variables because the environment variables you have provided exceeded ' +
          `the 4KB limit. String measured: ${JSON.stringify(variables)}`,
        400,
      );
    }
    return undefined;
  };

  const guard = proxy.guard;
  proxy.guard = async (operation, body) => {
    const prior = await guard?.(operation, body);
    if (prior !== undefined) return prior;
    const refused = await refusal(operation, body);
    return refused && { errorType: refused.errorType, message: refused.message, status: refused.status };
  };

  const rewrite = proxy.rewrite;
  proxy.rewrite = async (operation, request, response) => {
    const prior = ((await rewrite?.(operation, request, response)) ?? response) as Record<string, unknown>;
    const config = CONFIGURATION.exec(operation);
    // PublishVersion answers 201, which the proxy passes through: its answer needs no revision here.
    if (config === null) return prior;
    const name = nameOf(config[2]);
    if (config[1] === 'PUT') {
      bump(model.updatesForwarded, name);
      revisions.set(name, randomUUID());
      inProgress.set(name, model.readsPerUpdate);
      return { ...prior, RevisionId: revisions.get(name), LastUpdateStatus: 'InProgress' };
    }
    // A version's configuration (Qualifier) never changes: moto's answer, with a revision of its own.
    const qualifier = new URLSearchParams(config[3] ?? '').get('Qualifier');
    if (qualifier !== null && qualifier !== '$LATEST') return { ...prior, RevisionId: `${name}-${qualifier}` };
    const reads = inProgress.get(name) ?? 0;
    if (reads > 0) inProgress.set(name, reads - 1);
    return { ...prior, RevisionId: revisionOf(name), LastUpdateStatus: reads > 0 ? 'InProgress' : 'Successful' };
  };
  return model;
}
