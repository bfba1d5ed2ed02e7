/**
 * An HTTP proxy in front of moto that injects AWS faults and latency by API
 * operation, so the rotation handler meets throttling the way it would on AWS.
 * Operations are named by the JSON protocol's X-Amz-Target suffix
 * (`UpdateService`, `PutSecretValue`, `GetParameter`, ...). Hooks model AWS
 * where moto differs: `guard` refuses, `respond` answers, `rewrite` corrects.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { answerAwsError, forwardToUpstream, operationOf } from './aws-proxy';

export interface Fault {
  /** Operation name, e.g. 'UpdateService'. */
  readonly operation: string;
  /** How many matching calls fail (then the rule is spent). */
  remaining: number;
  /** AWS error type, e.g. 'ThrottlingException'. Required unless `stall` is set. */
  readonly errorType?: string;
  readonly status?: number;
  /** Only calls whose request body contains this text match (e.g. one service's ARN). */
  readonly match?: string;
  /**
   * Never answer and never forward: the call hangs until the caller gives up or dies, like a call in
   * flight when a Lambda function times out. Counted in `faulted`.
   */
  readonly stall?: boolean;
}

export interface FaultProxy {
  readonly endpoint: string;
  /** Calls seen per operation, faulted ones included. */
  readonly calls: Map<string, number>;
  /** Calls answered with an injected fault, per operation. */
  readonly faulted: Map<string, number>;
  inject(fault: Omit<Fault, 'remaining'> & { count: number }): void;
  /** Added to every forwarded call, like network and service latency. */
  latencyMs: number;
  /** Called with the operation and request body of every call forwarded to moto (not faulted ones). */
  onForward?: (operation: string, body: string) => void;
  /**
   * Where moto is more lenient than AWS: an answer to give instead of forwarding (checked after the
   * injected faults), or undefined to forward. See deleted-secret-guard.ts.
   */
  guard?: (operation: string, body: string) => Promise<AwsRefusal | undefined>;
  /**
   * Where moto has no model at all (e.g. running ECS tasks): a success body to answer with instead of
   * forwarding (checked after `guard`), or undefined to forward. Throw an AwsErrorAnswer to answer an AWS error.
   * See task-simulator.ts.
   */
  respond?: (operation: string, body: string) => Promise<unknown | undefined>;
  /** Replaces the JSON body of a forwarded call's 200 answer with what it returns (undefined: keep moto's). */
  rewrite?: (operation: string, requestBody: string, response: unknown) => Promise<unknown | undefined>;
  /** Calls answered by `respond` (never forwarded), per operation; they are in `calls` too. */
  readonly answered: Map<string, number>;
  stop(): Promise<void>;
}

/** Thrown by a `respond` hook: the call is answered with this AWS error. */
export class AwsErrorAnswer extends Error {
  constructor(
    readonly errorType: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** An AWS-shaped error answer. */
export interface AwsRefusal {
  readonly errorType: string;
  readonly message: string;
  readonly status?: number;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const faults: Fault[] = [];
  const calls = new Map<string, number>();
  const faulted = new Map<string, number>();
  const answered = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

  const proxy: FaultProxy = {
    endpoint: '',
    calls,
    faulted,
    answered,
    latencyMs: 0,
    inject: ({ count, ...rest }) => {
      if (!rest.stall && !rest.errorType) throw new Error('inject: give an errorType or stall: true');
      faults.push({ ...rest, remaining: count });
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const operation = operationOf(req);
      bump(calls, operation);
      if (proxy.latencyMs > 0) await new Promise((r) => setTimeout(r, proxy.latencyMs));
      const body = Buffer.concat(chunks);
      const fault = faults.find((f) => f.operation === operation && f.remaining > 0 && (f.match === undefined || body.includes(f.match)));
      if (fault) {
        fault.remaining--;
        bump(faulted, operation);
        if (fault.stall) return; // the socket closes when the caller goes away (or on stop())
        answerAwsError(res, fault.status ?? 400, fault.errorType as string, `injected ${fault.errorType}`);
        return;
      }
      const refusal = await proxy.guard?.(operation, body.toString('utf8'));
      if (refusal) {
        answerAwsError(res, refusal.status ?? 400, refusal.errorType, refusal.message);
        return;
      }
      if (proxy.respond && (await answerFromHook(proxy.respond, operation, body.toString('utf8'), res))) {
        bump(answered, operation);
        return;
      }
      proxy.onForward?.(operation, body.toString('utf8'));
      const rewrite = proxy.rewrite;
      forwardToUpstream(req, body, res, target, rewrite && ((text) => rewriteJson(rewrite, operation, body.toString('utf8'), text)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (proxy as { endpoint: string }).endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

/** Answers the call when the hook gives a body (or throws an AwsErrorAnswer); false when the call is to be forwarded. */
async function answerFromHook(hook: NonNullable<FaultProxy['respond']>, operation: string, body: string, res: http.ServerResponse) {
  let answer: unknown;
  try {
    answer = await hook(operation, body);
  } catch (err) {
    const e = err as Partial<AwsErrorAnswer> & Error;
    answerAwsError(res, e.status ?? 500, e.errorType ?? 'InternalServiceError', e.message);
    return true;
  }
  if (answer === undefined) return false;
  const text = JSON.stringify(answer);
  res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
  return true;
}

/** A non-JSON answer (e.g. a query-protocol XML one) passes through untouched. */
async function rewriteJson(
  hook: NonNullable<FaultProxy['rewrite']>,
  operation: string,
  requestBody: string,
  text: string,
): Promise<string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  const replaced = await hook(operation, requestBody, parsed);
  return replaced === undefined ? text : JSON.stringify(replaced);
}
