/**
 * `rotate`: RotateSecret, then (with --wait) follow the new version from
 * AWSPENDING to AWSCURRENT and each bound service's new deployment until it
 * completes, one fails, or the timeout passes. This file is the command: the
 * checks before RotateSecret, the baseline of deployments, the poll loop and
 * Ctrl-C; one poll is cli/rotation-watch.ts, the displays cli/render.ts.
 */
import { RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { isRotationInProgressError } from '../core/rotation-errors';
import { Clients } from './aws';
import { relative } from './duration';
import { CliError, ExitCode, ExitCodeValue, explainAwsError } from './errors';
import { shortId } from './format';
import { functionNameOf, rotationLogGroup } from './rotation-function';
import { RotationWatch } from './rotation-watch';
import { describeManagedSecret, ManagedSecret, versionCreationDates } from './secret';
import { BoundServices, describeServices, loadBoundServices } from './services';
import { Outcome, Reporter, WatchSnapshot } from './watch-report';

export interface RotateOptions {
  readonly secretId: string;
  readonly wait: boolean;
  readonly timeoutMs: number;
  readonly intervalMs: number;
}

export interface RotateDeps {
  readonly clients: Clients;
  readonly reporter: Reporter;
  readonly now?: () => number;
  /** Resolves after `ms`; rejects with an AbortError when `signal` aborts. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly signal?: AbortSignal;
}

/** Polls in a row that may fail with a transient error before rotate --wait gives up. */
export const MAX_TRANSIENT_FAILURES = 5;

export function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(): Error {
  return Object.assign(new Error('interrupted'), { name: 'AbortError' });
}

/** `logs`: the rotation function's log group (rotationLogGroup). */
export function rotationInProgressMessage(
  secret: Pick<ManagedSecret, 'name' | 'arn' | 'pendingVersion'>,
  logs: string | undefined,
  since?: Date,
  now = Date.now(),
): string {
  const which = secret.pendingVersion
    ? `version ${shortId(secret.pendingVersion)} is still AWSPENDING${since ? ` (started ${relative(since, now)})` : ''}`
    : "Secrets Manager says a previous rotation isn't complete";
  return (
    `A rotation of ${secret.name} is already in progress: ${which}. ` +
    `Follow it with \`cdk-dsql-url-secret status --secret-id ${secret.arn}\` and run rotate again once it has finished. ` +
    `If it stays in progress, the rotation function is failing and Secrets Manager keeps retrying it: see ` +
    `${logs ?? 'its CloudWatch logs'} ` +
    "(the construct's watchdog clears a stale AWSPENDING version)."
  );
}

export async function runRotate(opts: RotateOptions, deps: RotateDeps): Promise<ExitCodeValue> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? sleepFor;
  const { clients, reporter } = deps;
  const started = now();

  const secret = await describeManagedSecret(clients, opts.secretId);
  if (secret.pendingVersion) {
    const created = (await versionCreationDates(clients, secret.arn)).get(secret.pendingVersion);
    throw new CliError(rotationInProgressMessage(secret, await rotationLogGroup(clients, secret.rotationLambdaArn), created, now()));
  }

  // Before starting anything: check that the rotation can be followed (permissions), and note each
  // service's deployments so that the one the rotation starts can be told apart.
  let bound: BoundServices = { exists: false, arns: [] };
  const baseline = new Map<string, Set<string>>();
  if (opts.wait) {
    bound = await loadBoundServices(clients, secret.boundServicesParameter);
    for (const [arn, snap] of await describeServices(clients, bound.arns)) {
      baseline.set(arn, new Set(snap.kind === 'found' ? snap.deployments.map((d) => d.id) : []));
    }
  }

  let versionId: string;
  try {
    const out = await clients.sm.send(new RotateSecretCommand({ SecretId: secret.arn }));
    if (!out.VersionId) throw new CliError('RotateSecret answered without a VersionId');
    versionId = out.VersionId;
  } catch (err) {
    if (isRotationInProgressError(err)) {
      // Another rotation started since the check above (the schedule, the watchdog, someone else).
      const again = await describeManagedSecret(clients, secret.arn).catch(() => ({ ...secret, pendingVersion: undefined }));
      throw new CliError(rotationInProgressMessage(again, await rotationLogGroup(clients, again.rotationLambdaArn), undefined, now()));
    }
    const fn = functionNameOf(secret.rotationLambdaArn);
    throw explainAwsError(
      err,
      {
        api: 'RotateSecret',
        action: 'secretsmanager:RotateSecret',
        resource: `the secret ${secret.arn}`,
        alsoNeeds: `RotateSecret also needs lambda:InvokeFunction on the rotation function${fn ? ` (${fn})` : ''}.`,
      },
      clients.endpointUrl,
    );
  }
  reporter.info(
    `Started rotation of ${secret.name}: new version ${shortId(versionId)} (${versionId})` +
      `${secret.currentVersion ? `, replacing ${shortId(secret.currentVersion)}` : ''}.`,
  );
  if (!opts.wait) {
    reporter.info(
      `Secrets Manager runs the rotation function now. Follow it with: cdk-dsql-url-secret status --secret-id ${secret.arn}` +
        ' (or start with rotate --wait next time).',
    );
    return ExitCode.OK;
  }

  const watch = new RotationWatch({
    clients,
    secretId: secret.arn,
    secretName: secret.name,
    versionId,
    previousVersion: secret.currentVersion,
    bound,
    baseline,
    startedAt: started,
    timeoutMs: opts.timeoutMs,
    rotationLambdaArn: secret.rotationLambdaArn,
    now,
  });
  const deadline = started + opts.timeoutMs;
  let last: WatchSnapshot | undefined;
  try {
    for (let failures = 0; ;) {
      let snapshot: WatchSnapshot;
      let outcome: Outcome | undefined;
      try {
        ({ snapshot, outcome } = await watch.tick());
        failures = 0;
      } catch (err) {
        // One throttled or dropped poll must not end a long wait: show it and poll again.
        if (!(err instanceof CliError && err.transient) || ++failures > MAX_TRANSIENT_FAILURES) throw err;
        snapshot = {
          ...watch.current(),
          warning: `${err.message} (poll ${failures} of ${MAX_TRANSIENT_FAILURES} failed in a row; trying again)`,
        };
      }
      last = snapshot;
      reporter.update(snapshot);
      if (outcome) {
        reporter.finish(outcome, snapshot);
        return outcome.code;
      }
      const left = deadline - now();
      if (left <= 0) {
        const timeout = await watch.timeoutOutcome(snapshot);
        reporter.finish(timeout, snapshot);
        return timeout.code;
      }
      await sleep(Math.min(opts.intervalMs, left), deps.signal);
    }
  } catch (err) {
    if ((err as Error).name === 'AbortError') {
      const outcome = {
        code: ExitCode.INTERRUPTED,
        message:
          `Stopped watching. The rotation of ${secret.name} goes on in AWS: follow it with cdk-dsql-url-secret status ` +
          `--secret-id ${secret.arn}`,
      };
      reporter.finish(outcome, last);
      return outcome.code;
    }
    throw err;
  }
}
