/**
 * An HTTP proxy in front of moto that injects AWS faults and latency by API
 * operation, so the rotation handler meets throttling the way it would on AWS.
 * Operations are named by the JSON protocol's X-Amz-Target suffix
 * (`UpdateService`, `PutSecretValue`, `GetParameter`, ...).
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
  stop(): Promise<void>;
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
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

  const proxy: FaultProxy = {
    endpoint: '',
    calls,
    faulted,
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
      proxy.onForward?.(operation, body.toString('utf8'));
      forwardToUpstream(req, body, res, target);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (proxy as { endpoint: string }).endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
