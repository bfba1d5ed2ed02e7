import { ECSClient } from '@aws-sdk/client-ecs';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DescribeSecretCommandOutput, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { HandlerConfig } from './config';
import { RetryPolicy } from './retry';

/** What every rotation step gets: the clients, the configuration and the version being rotated in. */
export interface StepContext {
  readonly sm: SecretsManagerClient;
  readonly ecs: ECSClient;
  readonly ssm: SSMClient;
  readonly iam: IAMClient;
  /** Updates the bound functions' environment in finishSecret. */
  readonly lambda: LambdaClient;
  readonly config: HandlerConfig;
  readonly secretArn: string;
  /** The version this rotation writes and promotes (the event's ClientRequestToken). */
  readonly versionId: string;
  /** The secret's metadata as read by the guards at the start of this invocation (see core/rotation-state.ts). */
  readonly metadata: DescribeSecretCommandOutput;
  readonly retry?: RetryPolicy;
  /**
   * testSecret with the access-key signer: the waits between connection
   * attempts DSQL refuses, while IAM makes a brand-new key usable.
   */
  readonly newKeyRetryDelaysMs?: readonly number[];
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The `Secret` dimension of the metrics, as the construct configured it (the alarms watch it). */
export function metricDimension(ctx: StepContext): string {
  return ctx.config.metricDimension;
}
