/**
 * Benchmark-only HTTP proxy in front of moto: per-call latency drawn from a range, and a token
 * bucket per API operation, the way ECS throttles (account-wide per Region, burst = bucket capacity,
 * sustained = refill rate). A call that finds its operation's bucket empty is answered like AWS does:
 * HTTP 400, `x-amzn-errortype: ThrottlingException`, nothing forwarded.
 *
 * test/support/fault-proxy.ts injects a fixed number of faults; a rate limit needs state over time,
 * hence this small stand-alone proxy (bench/ must not edit test/support).
 */
import * as http from 'http';
import { AddressInfo } from 'net';

export interface BucketSpec {
  /** Bucket capacity: how many calls may pass at once after an idle period. */
  readonly burst: number;
  /** Refill rate in tokens per second (continuous): the sustained rate. */
  readonly perSecond: number;
}

export interface OperationStats {
  calls: number;
  throttled: number;
  /** Forwarded and answered 2xx by moto. */
  ok: number;
  /** Forwarded and answered with another status by moto. */
  upstreamErrors: number;
}

export interface ThrottleProxy {
  readonly endpoint: string;
  readonly stats: Map<string, OperationStats>;
  /** Successful UpdateService calls per service (as named in the request: ARN or name). */
  readonly updatesByService: Map<string, number>;
  /** Date.now() of every successful UpdateService response. */
  readonly updateTimes: number[];
  /** Requests currently inside the proxy (waiting on latency or on moto). */
  inFlight(): number;
  /** Clears counters and refills every bucket (the account was idle before the run). */
  reset(): void;
  stop(): Promise<void>;
}

class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(private readonly spec: BucketSpec) {
    this.tokens = spec.burst;
    this.last = performance.now();
  }
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.spec.burst, this.tokens + ((now - this.last) / 1000) * this.spec.perSecond);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }
}

function operationOf(req: http.IncomingMessage): string {
  const target = String(req.headers['x-amz-target'] ?? '');
  return target.slice(target.lastIndexOf('.') + 1) || `${req.method} ${req.url}`;
}

export async function startThrottleProxy(opts: {
  upstream: string;
  /** Inclusive range of added latency per call, in ms (uniform). */
  latencyMs: readonly [number, number];
  buckets: Readonly<Record<string, BucketSpec>>;
}): Promise<ThrottleProxy> {
  const target = new URL(opts.upstream);
  const stats = new Map<string, OperationStats>();
  const updatesByService = new Map<string, number>();
  const updateTimes: number[] = [];
  let buckets = new Map<string, TokenBucket>();
  let inFlight = 0;
  const refill = () => {
    buckets = new Map(Object.entries(opts.buckets).map(([op, spec]) => [op, new TokenBucket(spec)]));
  };
  refill();
  const statsOf = (op: string) => {
    let s = stats.get(op);
    if (!s) stats.set(op, (s = { calls: 0, throttled: 0, ok: 0, upstreamErrors: 0 }));
    return s;
  };
  const [lo, hi] = opts.latencyMs;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      inFlight++;
      const operation = operationOf(req);
      const s = statsOf(operation);
      s.calls++;
      const latency = lo + Math.random() * (hi - lo);
      if (latency > 0) await new Promise((r) => setTimeout(r, latency));
      const bucket = buckets.get(operation);
      if (bucket && !bucket.take()) {
        s.throttled++;
        inFlight--;
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': 'ThrottlingException' });
        res.end(JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }));
        return;
      }
      const body = Buffer.concat(chunks);
      const forward = http.request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          agent,
          headers: { ...req.headers, host: target.host },
        },
        (up) => {
          const upChunks: Buffer[] = [];
          up.on('data', (c: Buffer) => upChunks.push(c));
          up.on('end', () => {
            const status = up.statusCode ?? 502;
            if (status >= 200 && status < 300) {
              s.ok++;
              if (operation === 'UpdateService') {
                updateTimes.push(Date.now());
                let service = '?';
                try {
                  service = String(JSON.parse(body.toString('utf8')).service);
                } catch {
                  /* keep '?' */
                }
                updatesByService.set(service, (updatesByService.get(service) ?? 0) + 1);
              }
            } else {
              s.upstreamErrors++;
            }
            inFlight--;
            res.writeHead(status, up.headers);
            res.end(Buffer.concat(upChunks));
          });
        },
      );
      forward.on('error', (err) => {
        s.upstreamErrors++;
        inFlight--;
        if (!res.headersSent) res.writeHead(502);
        res.end(String(err));
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    updatesByService,
    updateTimes,
    inFlight: () => inFlight,
    reset: () => {
      stats.clear();
      updatesByService.clear();
      updateTimes.length = 0;
      refill();
    },
    stop: () =>
      new Promise((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
