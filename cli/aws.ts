/** The AWS clients the CLI uses, and calls that fail with explained errors. */
import { CodeDeployClient } from '@aws-sdk/client-codedeploy';
import { ECSClient } from '@aws-sdk/client-ecs';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { AwsCall, explainAwsError } from './errors';

export interface AwsOptions {
  readonly region?: string;
  readonly endpointUrl?: string;
  readonly profile?: string;
}

export interface Clients {
  readonly sm: SecretsManagerClient;
  readonly ssm: SSMClient;
  readonly ecs: ECSClient;
  /** Follows the CodeDeploy deployments of CODE_DEPLOY services (`rotate --wait`). */
  readonly codedeploy: CodeDeployClient;
  /** Reads the rotation function's log group for hints (cli/rotation-function.ts). */
  readonly lambda: LambdaClient;
  /** --endpoint-url, for messages. */
  readonly endpointUrl?: string;
  destroy(): void;
}

export function createClients(opts: AwsOptions): Clients {
  const config = {
    ...(opts.region ? { region: opts.region } : {}),
    ...(opts.endpointUrl ? { endpoint: opts.endpointUrl } : {}),
    ...(opts.profile ? { profile: opts.profile } : {}),
  };
  const sm = new SecretsManagerClient(config);
  const ssm = new SSMClient(config);
  const ecs = new ECSClient(config);
  // Creating a client makes no call: it costs nothing for a secret without CODE_DEPLOY services.
  const codedeploy = new CodeDeployClient(config);
  const lambda = new LambdaClient(config);
  return {
    sm,
    ssm,
    ecs,
    codedeploy,
    lambda,
    endpointUrl: opts.endpointUrl,
    destroy: () => {
      sm.destroy();
      ssm.destroy();
      ecs.destroy();
      codedeploy.destroy();
      lambda.destroy();
    },
  };
}

/** `arn:aws:secretsmanager:eu-west-1:…` → `eu-west-1`; undefined for a secret name. */
export function regionFromArn(id: string): string | undefined {
  const parts = id.split(':');
  return parts[0] === 'arn' && parts.length >= 7 && parts[3] ? parts[3] : undefined;
}

/** Runs one AWS call; any error becomes a CliError that names the call and the fix. */
export async function awsCall<T>(call: AwsCall, fn: () => Promise<T>, endpointUrl?: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw explainAwsError(err, call, endpointUrl);
  }
}
