/** Exit codes, errors that carry one, and AWS errors explained. */

export const ExitCode = {
  /** Success; for `rotate --wait`: AWSCURRENT moved and every bound service's new deployment completed. */
  OK: 0,
  /** An error (AWS call, not found, not managed, permission, rotation in progress), an abandoned rotation, or a FAILED deployment. */
  FAILED: 1,
  /** Bad command line: unknown command or option, missing --secret-id, bad duration. */
  USAGE: 2,
  /** `rotate --wait` gave up after --timeout; the rotation and the rollouts go on in AWS. */
  TIMEOUT: 3,
  /** Interrupted with Ctrl-C (128 + SIGINT); the rotation goes on in AWS. */
  INTERRUPTED: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error whose message is meant for the user as it is, with the exit code to end with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.FAILED,
    /** Throttling, a network error or a 5xx: worth another try at the next poll. */
    readonly transient = false,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.USAGE);
    this.name = 'UsageError';
  }
}

/** One AWS API call, named for error messages. */
export interface AwsCall {
  /** e.g. `secretsmanager:DescribeSecret` style API name: `DescribeSecret`. */
  readonly api: string;
  /** The IAM action the call needs, e.g. `secretsmanager:DescribeSecret`. */
  readonly action: string;
  /** What the action must be allowed on, for the message. */
  readonly resource: string;
  /** Extra advice when access is denied (e.g. a second permission the call needs). */
  readonly alsoNeeds?: string;
}

const ACCESS_DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'UnauthorizedOperation', 'UnauthorizedException', 'NotAuthorized']);
const BAD_CREDENTIALS = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'ExpiredTokenException',
  'ExpiredToken',
  'IncompleteSignature',
  'MissingAuthenticationToken',
]);
const NETWORK = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

interface AwsErrorLike {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** Error name, as the SDK reports it. */
export function errorName(err: unknown): string {
  return (err as AwsErrorLike | undefined)?.name ?? 'Error';
}

/**
 * Turns an SDK error into a CliError that names the problem and the fix.
 * Callers handle the errors they expect (not found, rotation in progress) first.
 */
export function explainAwsError(err: unknown, call: AwsCall, endpoint?: string): CliError {
  if (err instanceof CliError) return err;
  const e = (err ?? {}) as AwsErrorLike;
  const name = e.name ?? 'Error';
  const detail = (e.message ?? String(err)).trim();
  if (/region is missing/i.test(detail)) {
    return new UsageError("No AWS region: pass --region, set AWS_REGION, or give the secret's full ARN as --secret-id");
  }
  if (ACCESS_DENIED.has(name) || (/not authorized to perform|access ?denied/i.test(detail) && (e.$metadata?.httpStatusCode ?? 0) === 403)) {
    const kms = /kms/i.test(detail)
      ? ' The secret is encrypted with a customer managed KMS key: the identity also needs kms:Decrypt on that key.'
      : '';
    const also = call.alsoNeeds ? ` ${call.alsoNeeds}` : '';
    return new CliError(
      `Permission denied: ${call.api} was refused (${name}: ${detail}). ` +
        `Allow ${call.action} on ${call.resource} for the AWS identity this command runs as.${also}${kms}`,
    );
  }
  if (BAD_CREDENTIALS.has(name)) {
    return new CliError(
      `AWS rejected the credentials on ${call.api} (${name}: ${detail}). ` +
        'Refresh or configure credentials (aws sso login, AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).',
    );
  }
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(detail)) {
    return new CliError(
      `No AWS credentials found for ${call.api}. Configure them (aws configure, aws sso login, AWS_PROFILE or --profile, ` +
        'or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).',
    );
  }
  if (NETWORK.has(e.code ?? '') || NETWORK.has(name) || /ECONNREFUSED|ENOTFOUND|getaddrinfo|socket hang up/.test(detail)) {
    const where = endpoint ? `the endpoint ${endpoint}` : 'AWS';
    return new CliError(
      `Could not reach ${where} for ${call.api} (${e.code ?? name}: ${detail}). Check the network, --region and --endpoint-url.`,
      ExitCode.FAILED,
      true,
    );
  }
  if (name === 'ThrottlingException' || name === 'TooManyRequestsException') {
    return new CliError(
      `AWS throttled ${call.api} (${name}) even after retries. Try again in a minute, or poll less often with --interval.`,
      ExitCode.FAILED,
      true,
    );
  }
  const serverSide = (e.$metadata?.httpStatusCode ?? 0) >= 500 || name === 'TimeoutError';
  return new CliError(`${call.api} failed: ${name}: ${detail}`, ExitCode.FAILED, serverSide);
}
