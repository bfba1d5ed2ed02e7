/**
 * The network settings every function's AWS SDK clients share, and the error
 * a call raises when the service's endpoint cannot be reached.
 *
 * Without them the SDK waits for the operating system to give up on a
 * connection that never completes (a function in a VPC with no NAT and no
 * VPC endpoint), minutes per attempt, so a step or the watchdog runs into the
 * function's timeout and the log says only "Task timed out". With them a
 * missing path fails in seconds, naming the endpoint and the fix.
 *
 * Constants, not configuration: they bound how long a call may wait for the
 * network, which is the same for every deployment; no prop chooses them, so
 * the construct would only restate them in every function's environment.
 */
import type { BuildMiddleware, InitializeMiddleware, MetadataBearer, MiddlewareStack } from '@smithy/types';

/** How long a connection to an AWS endpoint may take: AWS answers in milliseconds, a missing path never. */
export const CONNECT_TIMEOUT_MS = 3_000;
/** How long one request and its response may take once connected (the APIs called answer in well under a second). */
export const REQUEST_TIMEOUT_MS = 10_000;

/** The options every function passes to each AWS SDK client it creates. */
export const AWS_CLIENT_OPTIONS = {
  requestHandler: {
    connectionTimeout: CONNECT_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Without it the SDK only logs a warning when requestTimeout passes and keeps waiting.
    throwOnRequestTimeout: true,
  },
} as const;

/** An AWS service a function calls: how the error names it and its VPC endpoint. */
export interface AwsService {
  /** How the error names the service, e.g. `Secrets Manager`. */
  readonly label: string;
  /** The last part of the interface endpoint's service name, `com.amazonaws.<region>.<endpointName>`. */
  readonly endpointName: string;
}

export const AwsServices = {
  SECRETS_MANAGER: { label: 'Secrets Manager', endpointName: 'secretsmanager' },
  SSM: { label: 'SSM', endpointName: 'ssm' },
  ECS: { label: 'ECS', endpointName: 'ecs' },
  IAM: { label: 'IAM', endpointName: 'iam' },
  LAMBDA: { label: 'Lambda', endpointName: 'lambda' },
  DSQL: { label: 'the Aurora DSQL API', endpointName: 'dsql' },
} as const satisfies Record<string, AwsService>;

/** System error codes of a connection that failed before any response. */
const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** The error a call raises when `service`'s endpoint gave no answer. */
export class EndpointUnreachableError extends Error {
  constructor(
    message: string,
    /** The host the call tried, e.g. `secretsmanager.eu-west-1.amazonaws.com`. */
    readonly host: string,
    /** The SDK's error code or name (`TimeoutError`, `ECONNREFUSED`, ...). */
    readonly code: string,
  ) {
    super(message);
    this.name = 'EndpointUnreachableError';
  }
}

/**
 * Why a call got no HTTP response at all: `TimeoutError` or a system error
 * code; undefined when it got one (an answer, even a 500, proves the path
 * works) or failed otherwise.
 */
export function noResponseReason(err: unknown): string | undefined {
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } } | null;
  if (e === null || typeof e !== 'object' || e.$metadata?.httpStatusCode !== undefined) return undefined;
  if (e.name === 'TimeoutError') return 'TimeoutError';
  if (NETWORK_ERROR_CODES.has(e.code ?? '')) return e.code;
  // The SDK wraps an error from another realm ("AWS SDK error wrapper for Error: connect ECONNREFUSED ...") without its code.
  const named = /\b(E[A-Z_]+)\b/.exec(e.message ?? '')?.[1];
  return named !== undefined && NETWORK_ERROR_CODES.has(named) ? named : undefined;
}

export function isNoResponseError(err: unknown): boolean {
  return noResponseReason(err) !== undefined;
}

export interface UnreachableDetails {
  readonly service: AwsService;
  readonly host: string;
  readonly region: string;
  readonly elapsedMs: number;
  readonly attempts: number | undefined;
  /** noResponseReason of the error. */
  readonly reason: string;
  readonly cause: { message?: string };
}

/** What the error says: the endpoint, how long it was tried, and what gives the function a path to it. */
export function unreachableMessage(d: UnreachableDetails): string {
  const seconds = Math.max(1, Math.round(d.elapsedMs / 1000));
  const tries = d.attempts !== undefined && d.attempts > 1 ? `, ${d.attempts} attempts` : '';
  const detail = (d.cause.message ?? 'no detail').replace(/^AWS SDK error wrapper for (Error: )?/, '');
  const why = `${d.reason}: ${detail}`;
  const path =
    d.service === AwsServices.IAM
      ? 'with vpc set the function needs NAT for IAM (its interface endpoint, com.amazonaws.iam, exists only in us-east-1)'
      : `with vpc set the function needs a VPC endpoint (com.amazonaws.${d.region}.${d.service.endpointName}) or NAT for ${d.service.label}`;
  return `could not reach ${d.host} within ${seconds} s (${why}${tries}): ${path} (see README Deployment shapes)`;
}

/** What explainUnreachable needs of a client: its middleware stack. */
export interface ClientWithMiddleware {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- every client's stack has its own input and output types
  readonly middlewareStack: MiddlewareStack<any, MetadataBearer>;
}

const HOST_KEY = '__cdkDsqlUrlSecretEndpointHost';

/**
 * Makes every call of `client` that gets no response (connect or request
 * timeout, refused, DNS failure), after the SDK's own retries, fail with an
 * EndpointUnreachableError naming the host it tried and the fix. Other
 * errors pass unchanged. Returns the client.
 */
export function explainUnreachable<C extends ClientWithMiddleware>(
  client: C,
  service: AwsService,
  region: () => string | undefined = () => process.env.AWS_REGION,
): C {
  // After endpoint resolution (serialize), before retries (finalizeRequest): the host every attempt uses.
  const recordHost: BuildMiddleware<object, MetadataBearer> = (next, context) => async (args) => {
    const request = args.request as { hostname?: string; port?: number };
    if (request.hostname) context[HOST_KEY] = request.port ? `${request.hostname}:${request.port}` : request.hostname;
    return next(args);
  };
  // Outermost: it sees the error once every retry is spent, and the time they all took.
  const explain: InitializeMiddleware<object, MetadataBearer> = (next, context) => async (args) => {
    const started = Date.now();
    try {
      return await next(args);
    } catch (err) {
      const reason = noResponseReason(err);
      if (reason === undefined) throw err;
      const e = err as { message?: string; $metadata?: { attempts?: number } };
      const host = (context[HOST_KEY] as string | undefined) ?? `${service.endpointName} endpoint`;
      const message = unreachableMessage({
        service,
        host,
        region: region() ?? '<region>',
        elapsedMs: Date.now() - started,
        attempts: e.$metadata?.attempts,
        reason,
        cause: e,
      });
      throw new EndpointUnreachableError(message, host, reason);
    }
  };
  client.middlewareStack.add(recordHost, { step: 'build', name: 'cdkDsqlUrlSecretRecordHost' });
  client.middlewareStack.add(explain, { step: 'initialize', name: 'cdkDsqlUrlSecretExplainUnreachable', priority: 'high' });
  return client;
}
