/**
 * An HTTP proxy in front of moto that plays Secrets Manager's rotation service for RotateSecret calls
 * from a client under test (the CLI), and optionally ECS's rollouts, which moto does not run.
 *
 * - RotateSecret (`x-amz-target: secretsmanager.RotateSecret`): moto cannot invoke a rotation Lambda
 *   (no Docker), so the call is not forwarded. It runs `rotateSecret()` from rotation-service.ts, which
 *   stages the new version and invokes the real bundled handler's four steps. Like AWS, it answers
 *   `{ ARN, Name, VersionId }` as soon as the version is staged (AWSPENDING) and the rotation goes on in
 *   the background; a refusal before staging (a rotation in progress, no such secret) is answered as an
 *   AWS error. One difference: AWS uses the request's ClientRequestToken as the version id, here
 *   rotateSecret() picks its own; the answer carries the real one.
 * - Every other call is forwarded unchanged to `upstream` (moto, or the fault proxy in front of it).
 * - DescribeServices, with `rollout` set: moto 5.2.1 runs no tasks, so every deployment says
 *   rolloutState IN_PROGRESS with runningCount 0 forever (unless the moto process was started with
 *   MOTO_ECS_SERVICE_RUNNING, then COMPLETED from creation, and UpdateService keeps that), and
 *   UpdateService(forceNewDeployment) rewrites the single deployment's id and createdAt instead of
 *   adding one. The simulation rewrites the answer the way ECS reports a rolling update: a deployment
 *   created after the interceptor started runs IN_PROGRESS for `durationMs` (the previous one listed as
 *   ACTIVE and draining), then COMPLETED (or FAILED for the services in `fail`); deployments from
 *   before the interceptor started are COMPLETED.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { RotationEvent, RotationResult, RotationStep, rotateSecret } from './rotation-service';
import { forwardToUpstream, operationOf } from './aws-proxy';

export interface RolloutSimulation {
  /** From a deployment's createdAt to COMPLETED (or FAILED). */
  durationMs: number;
  /** Services (ARN or any part of it, e.g. `/svc-1`) whose new deployments end FAILED. */
  fail?: string[];
  /** Leave rolloutState out, as ECS does for services behind a Classic Load Balancer. */
  omitRolloutState?: boolean;
}

export interface InterceptorOptions {
  /** Where every other call goes: moto's endpoint, or the fault proxy in front of it. */
  upstream: string;
  /** A Secrets Manager client on moto: rotateSecret() stages versions with it. */
  sm: SecretsManagerClient;
  /** Runs one rotation step, e.g. `stack.invokeStep` from startLocalStack(). */
  invokeStep: (step: RotationStep, token: string) => Promise<void>;
  /** Attempts of the whole four-step sequence (default 3, as rotateSecret()). */
  maxAttempts?: number;
  /** Waited before each step: a slow rotation. Can be changed later on the interceptor. */
  stepDelayMs?: number;
  rollout?: RolloutSimulation;
}

export interface BackgroundRotation {
  readonly secretId: string;
  versionId?: string;
  readonly events: RotationEvent[];
  /** Settles (never rejects) when the rotation has finished or failed. */
  readonly done: Promise<void>;
  result?: RotationResult;
  error?: Error;
}

export interface RotateSecretInterceptor {
  readonly endpoint: string;
  /** Every rotation started through RotateSecret, in order. */
  readonly rotations: BackgroundRotation[];
  /** Operations seen (X-Amz-Target suffix), in order. */
  readonly calls: string[];
  stepDelayMs: number;
  rollout?: RolloutSimulation;
  /** Resolves when no rotation is running any more. */
  idle(): Promise<void>;
  /** Waits for running rotations, then closes the server. */
  stop(): Promise<void>;
}

interface JsonDeployment {
  id?: string;
  status?: string;
  createdAt?: number;
  desiredCount?: number;
  runningCount?: number;
  pendingCount?: number;
  failedTasks?: number;
  rolloutState?: string;
  rolloutStateReason?: string;
  [key: string]: unknown;
}

interface JsonService {
  serviceArn?: string;
  runningCount?: number;
  pendingCount?: number;
  deployments?: JsonDeployment[];
  [key: string]: unknown;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(text);
}

export async function startRotateSecretInterceptor(opts: InterceptorOptions): Promise<RotateSecretInterceptor> {
  const target = new URL(opts.upstream);
  const startedAt = Date.now();
  const sockets = new Set<import('net').Socket>();
  /** Per service ARN: the last PRIMARY deployment seen, to list it as ACTIVE while its successor rolls out. */
  const lastPrimary = new Map<string, JsonDeployment>();
  const previousOf = new Map<string, JsonDeployment>();

  const interceptor: RotateSecretInterceptor = {
    endpoint: '',
    rotations: [],
    calls: [],
    stepDelayMs: opts.stepDelayMs ?? 0,
    rollout: opts.rollout,
    idle: async () => {
      // Rotations can start while we wait: loop until none is left running.
      for (let seen = -1; seen !== interceptor.rotations.length;) {
        seen = interceptor.rotations.length;
        await Promise.all(interceptor.rotations.map((r) => r.done));
      }
    },
    stop: async () => {
      await interceptor.idle();
      await new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
    },
  };

  const invokeStep = async (step: RotationStep, token: string) => {
    if (interceptor.stepDelayMs > 0) await new Promise((r) => setTimeout(r, interceptor.stepDelayMs));
    await opts.invokeStep(step, token);
  };

  async function handleRotateSecret(body: string, res: http.ServerResponse): Promise<void> {
    let secretId: string;
    try {
      secretId = String((JSON.parse(body) as { SecretId?: unknown }).SecretId ?? '');
    } catch {
      sendJson(res, 400, { __type: 'InvalidParameterException', message: 'request body is not JSON' }, 'InvalidParameterException');
      return;
    }
    let onStaged!: (versionId: string) => void;
    let onRefused!: (err: Error) => void;
    const staged = new Promise<string>((resolve, reject) => {
      onStaged = resolve;
      onRefused = reject;
    });
    const record: BackgroundRotation = {
      secretId,
      events: [],
      done: rotateSecret({
        sm: opts.sm,
        secretId,
        invokeStep,
        maxAttempts: opts.maxAttempts,
        onProgress: (e) => {
          record.events.push(e);
          if (e.type === 'rotation-started') {
            record.versionId = e.token;
            onStaged(e.token);
          }
        },
      }).then(
        (result) => {
          record.result = result;
        },
        (err: Error) => {
          record.error = err;
          onRefused(err);
        }, // after staging, onRefused is a no-op
      ),
    };
    interceptor.rotations.push(record);
    try {
      const versionId = await staged;
      const d = await opts.sm.send(new DescribeSecretCommand({ SecretId: secretId }));
      sendJson(res, 200, { ARN: d.ARN, Name: d.Name, VersionId: versionId });
    } catch (err) {
      const e = err as Error;
      const type = e.name && e.name !== 'Error' ? e.name : 'InternalServiceError';
      sendJson(res, type === 'InternalServiceError' ? 500 : 400, { __type: type, message: e.message }, type);
    }
  }

  function simulateRollouts(text: string, sim: RolloutSimulation): string {
    const json = JSON.parse(text) as { services?: JsonService[] };
    const now = Date.now();
    for (const service of json.services ?? []) {
      const arn = service.serviceArn ?? '';
      const primary = service.deployments?.find((d) => d.status === 'PRIMARY');
      if (!primary || !service.deployments) continue;
      const seen = lastPrimary.get(arn);
      if (seen && seen.id !== primary.id) previousOf.set(arn, seen);
      lastPrimary.set(arn, { ...primary });
      const desired = primary.desiredCount ?? 0;
      const createdMs = (primary.createdAt ?? 0) * 1000;
      const isNew = createdMs >= startedAt;
      const elapsed = now - createdMs;
      const failing = isNew && (sim.fail ?? []).some((f) => arn.includes(f));
      const deployments: JsonDeployment[] = [primary];
      if (isNew && elapsed < sim.durationMs) {
        const running = Math.floor((desired * elapsed) / sim.durationMs);
        Object.assign(primary, {
          runningCount: running,
          pendingCount: desired - running,
          failedTasks: 0,
          rolloutState: 'IN_PROGRESS',
          rolloutStateReason: `ECS deployment ${primary.id} in progress.`,
        });
        const previous = previousOf.get(arn);
        if (previous) {
          deployments.push({
            ...previous,
            status: 'ACTIVE',
            runningCount: desired - running,
            pendingCount: 0,
            rolloutState: 'COMPLETED',
            rolloutStateReason: `ECS deployment ${previous.id} completed.`,
          });
        }
      } else if (failing) {
        Object.assign(primary, {
          runningCount: 0,
          pendingCount: 0,
          failedTasks: 3,
          rolloutState: 'FAILED',
          rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
        });
      } else {
        Object.assign(primary, {
          runningCount: desired,
          pendingCount: 0,
          failedTasks: 0,
          rolloutState: 'COMPLETED',
          rolloutStateReason: `ECS deployment ${primary.id} completed.`,
        });
      }
      if (sim.omitRolloutState) {
        for (const d of deployments) {
          delete d.rolloutState;
          delete d.rolloutStateReason;
        }
      }
      service.deployments = deployments;
      service.runningCount = deployments.reduce((n, d) => n + (d.runningCount ?? 0), 0);
      service.pendingCount = primary.pendingCount;
    }
    return JSON.stringify(json);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const operation = operationOf(req);
      interceptor.calls.push(operation);
      const body = Buffer.concat(chunks);
      if (String(req.headers['x-amz-target'] ?? '') === 'secretsmanager.RotateSecret') {
        void handleRotateSecret(body.toString('utf8'), res);
        return;
      }
      const rollout = operation === 'DescribeServices' ? interceptor.rollout : undefined;
      forwardToUpstream(req, body, res, target, rollout === undefined ? undefined : (text) => simulateRollouts(text, rollout));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (interceptor as { endpoint: string }).endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return interceptor;
}
