/**
 * Shared constants of the functions' unit tests and small helpers: AWS-shaped
 * errors and a recording RetryPolicy. The fakes and builders live beside it:
 * fixtures-config.ts (configs and environments), fixtures-secrets-manager.ts,
 * fixtures-ecs.ts (ECS and the bound-services parameter), fixtures-iam.ts and
 * fixtures-tokens.ts.
 */
import { RetryPolicy } from '../../functions/retry';

export const REGION = 'us-east-1';
export const HOST = 'abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws';
/** The cluster HOST belongs to. */
export const CLUSTER_ID = 'abcdefghijklmnopqrstuvwxyz';
export const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-url-AbCdEf';
/** The version being rotated in (ClientRequestToken). */
export const TOKEN = '11111111-2222-4333-8444-555555555555';
/** The version that is AWSCURRENT before the rotation. */
export const OLD_VERSION = '99999999-8888-4777-8666-555555555555';
/** Name of the SSM parameter that lists the bound services. */
export const BOUND_SERVICES_PARAMETER = '/cdk-dsql-url-secret/test/bound-services';

/** The access-key signer's IAM user and the secret holding its keys. */
export const SIGNER_USER = 'app-db-url-signer';
export const KEYS_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-url-signer-keys-XyZ123';

/** Fake long-term-looking credentials; the secret and session token must never be logged. */
export const FAKE_CREDENTIALS = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN/abc+def==',
};

export function serviceArn(cluster: string, name: string): string {
  return `arn:aws:ecs:${REGION}:123456789012:service/${cluster}/${name}`;
}

/** An error shaped like an AWS SDK service exception (name + $metadata). */
export function awsError(name: string, message = name, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), { name, $fault: httpStatusCode >= 500 ? 'server' : 'client', $metadata: { httpStatusCode } });
}

export const throttling = (): Error => awsError('ThrottlingException', 'Rate exceeded');

/** A RetryPolicy that records the delays it was asked to sleep instead of sleeping. */
export function recordingRetry(overrides: Partial<RetryPolicy> = {}): RetryPolicy & { readonly sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    maxAttempts: 4,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    random: () => 0.5,
    ...overrides,
    sleeps,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  };
}
