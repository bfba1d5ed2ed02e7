/**
 * Shared checks for the integration tests: staging labels, ECS deployments, UpdateService calls as
 * moto received them, and the "no secret in any log" assertion.
 *
 * Assertions never put a token, URL or key into a failure message: secrets are compared by
 * fingerprint and leaks are reported by label.
 */
import { createHash } from 'crypto';
import { CreateServiceCommand, DeleteServiceCommand, DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { GetSecretValueCommand, ListSecretVersionIdsCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { DsqlUrlSecretValue } from '../../lib/contract';
import { deploymentsOf } from '../support/ecs-fixture';
import { snapshotFunctionBundles } from '../support/function-bundles';
import { InvokeStepOptions, LocalStack, LocalStackOptions, startLocalStack } from '../support/local-stack';
import { describeStages, RotationResult, RotationStep } from '../support/rotation-service';
import { tokenParams } from './clients';

/**
 * startLocalStack on a private copy of the function bundles, so a whole test file runs one build of
 * each function even if `npm run bundle` rewrites assets/ meanwhile; stop() also removes the copy.
 */
export async function startStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const bundle = await snapshotFunctionBundles();
  let stack: LocalStack;
  try {
    stack = await startLocalStack({ ...opts, bundlesDir: bundle.dir });
  } catch (err) {
    bundle.remove();
    throw err;
  }
  const stop = stack.stop;
  return Object.assign(stack, {
    stop: async () => {
      try {
        await stop();
      } finally {
        bundle.remove();
      }
    },
  });
}

/** A short, stable stand-in for a secret in assertions and messages. */
export function fingerprint(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 12);
}

/** versionId -> labels, versions without labels left out. */
export function stagesOf(stack: LocalStack): Promise<Record<string, string[]>> {
  return describeStages(stack.sm, stack.secretArn);
}

/** Versions that carry AWSPENDING without AWSCURRENT: each of them blocks the next RotateSecret. */
export function blockingPending(stages: Record<string, string[]>): string[] {
  return Object.entries(stages)
    .filter(([, s]) => s.includes('AWSPENDING') && !s.includes('AWSCURRENT'))
    .map(([v]) => v);
}

/** What an operator does after a rotation failed for good: drop AWSPENDING from the abandoned version. */
export async function abandonPending(stack: LocalStack, versionId: string): Promise<void> {
  await stack.sm.send(
    new UpdateSecretVersionStageCommand({
      SecretId: stack.secretArn,
      VersionStage: 'AWSPENDING',
      RemoveFromVersionId: versionId,
    }),
  );
}

/** Service ARN -> id of its (single, in moto) deployment. */
export async function deploymentIds(stack: LocalStack, serviceArns: string[]): Promise<Map<string, string>> {
  const all = await deploymentsOf(stack.ecs, serviceArns);
  const ids = new Map<string, string>();
  for (const arn of serviceArns) {
    const deployments = all.get(arn) ?? [];
    // moto rewrites the single PRIMARY entry on forceNewDeployment: more than one would be news.
    if (deployments.length !== 1) throw new Error(`${arn}: expected one deployment entry in moto, got ${deployments.length}`);
    ids.set(arn, deployments[0].id);
  }
  return ids;
}

/** Services whose deployment id differs between two snapshots. */
export function changed(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...after]
    .filter(([arn, id]) => before.get(arn) !== id)
    .map(([arn]) => arn)
    .sort();
}

/**
 * Counts UpdateService calls that reached moto, per service ARN. Faulted or stalled calls never
 * reach moto, so a count of 1 per rotation means "exactly one forced deployment".
 */
export class UpdateServiceRecorder {
  private readonly counts = new Map<string, number>();

  constructor(stack: LocalStack) {
    stack.proxy.onForward = (operation, body) => {
      if (operation !== 'UpdateService') return;
      const service = String((JSON.parse(body) as { service?: unknown }).service);
      this.counts.set(service, (this.counts.get(service) ?? 0) + 1);
    };
  }

  reset(): void {
    this.counts.clear();
  }

  /** ARN -> forwarded UpdateService calls since the last reset, sorted by ARN. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }
}

/** `{ arn: 1, … }` for the given services: what a snapshot must equal after one rotation. */
export function oncePerService(serviceArns: string[]): Record<string, number> {
  return Object.fromEntries([...serviceArns].sort().map((arn) => [arn, 1]));
}

/** Deletes an ECS service the way `aws ecs delete-service --force` does. */
export async function deleteService(stack: LocalStack, serviceArn: string): Promise<void> {
  const [, cluster] = serviceArn.split(':').slice(5).join(':').split('/');
  await stack.ecs.send(new DeleteServiceCommand({ cluster, service: serviceArn, force: true }));
}

/** Creates another service next to `like` (same cluster and task definition); returns its ARN. */
export async function createServiceLike(stack: LocalStack, like: string, serviceName: string): Promise<string> {
  const [, cluster] = like.split(':').slice(5).join(':').split('/');
  const model = (await stack.ecs.send(new DescribeServicesCommand({ cluster, services: [like] }))).services![0];
  const created = await stack.ecs.send(
    new CreateServiceCommand({
      cluster,
      serviceName,
      taskDefinition: model.taskDefinition,
      desiredCount: 1,
      launchType: 'FARGATE',
    }),
  );
  return created.service!.serviceArn!;
}

/** Rewrites the bound-services parameter (what `redeployOnRotation()` maintains). */
export async function setBoundServices(stack: LocalStack, serviceArns: string[]): Promise<void> {
  await stack.ssm.send(
    new PutParameterCommand({
      Name: stack.parameterName,
      Type: 'String',
      Value: JSON.stringify(serviceArns),
      Overwrite: true,
    }),
  );
}

/** Every value the secret ever held (all versions, labelled or not). */
export async function allSecretValues(stack: LocalStack): Promise<DsqlUrlSecretValue[]> {
  const versions =
    (await stack.sm.send(new ListSecretVersionIdsCommand({ SecretId: stack.secretArn, IncludeDeprecated: true }))).Versions ?? [];
  const values: DsqlUrlSecretValue[] = [];
  for (const v of versions) {
    try {
      const out = await stack.sm.send(new GetSecretValueCommand({ SecretId: stack.secretArn, VersionId: v.VersionId }));
      if (out.SecretString) values.push(JSON.parse(out.SecretString) as DsqlUrlSecretValue);
    } catch {
      // a version staged by RotateSecret that never got a value
    }
  }
  return values;
}

/**
 * Captures everything this test process writes (console and raw stdout/stderr, warnings included)
 * while still letting it through, so the leak check also covers the test process itself.
 */
export function captureOutput(): { text(): string; restore(): void } {
  const chunks: string[] = [];
  const restores: Array<() => void> = [];
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write;
    stream.write = function write(this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof stream.write;
    restores.push(() => {
      stream.write = original;
    });
  }
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[method];
    console[method] = (...args: unknown[]) => {
      chunks.push(args.map((a) => (typeof a === 'string' ? a : (JSON.stringify(a) ?? String(a)))).join(' '));
      original.apply(console, args);
    };
    restores.push(() => {
      console[method] = original;
    });
  }
  return { text: () => chunks.join('\n'), restore: () => restores.reverse().forEach((r) => r()) };
}

export interface LeakCheckInput {
  readonly stack: LocalStack;
  /** Named texts besides the handler logs, e.g. the test process's output and rotation error messages. */
  readonly texts: Record<string, string>;
  /** Secret access keys of every signer the test used (stack.signer may have been replaced). */
  readonly secretAccessKeys: string[];
  /** Tokens seen outside the secret (e.g. crafted ones). */
  readonly extraTokens?: string[];
}

/**
 * Looks for every secret the run produced in every text: the raw and percent-encoded token of each
 * version, its signature, the signers' secret access keys, and the `X-Amz-Signature=` marker. Returns
 * `"<what> in <where>"` labels, never the secret itself. Also returns how many secrets were looked for.
 */
export async function findLeaks(input: LeakCheckInput): Promise<{ leaks: string[]; secretsChecked: number; bytesChecked: number }> {
  const secrets: Array<{ label: string; value: string }> = [];
  const tokens = [...(await allSecretValues(input.stack)).map((v) => v.password), ...(input.extraTokens ?? [])].filter((t) => t !== '');
  for (const token of new Set(tokens)) {
    const name = `token ${fingerprint(token)}`;
    secrets.push({ label: name, value: token }, { label: `${name} (percent-encoded)`, value: encodeURIComponent(token) });
    const params = tokenParams(token).params;
    const signature = params.get('X-Amz-Signature');
    if (signature) secrets.push({ label: `${name} signature`, value: signature });
    const session = params.get('X-Amz-Security-Token');
    if (session) secrets.push({ label: `${name} session token`, value: session });
  }
  for (const key of new Set(input.secretAccessKeys)) {
    secrets.push({ label: `secret access key ${fingerprint(key)}`, value: key });
  }
  secrets.push(
    { label: 'X-Amz-Signature= marker', value: 'X-Amz-Signature=' },
    { label: 'X-Amz-Signature= marker (percent-encoded)', value: 'X-Amz-Signature%3D' },
  );
  const texts: Record<string, string> = {};
  input.stack.handlerLogs.forEach((log, i) => {
    texts[`handler invocation ${i + 1}`] = log;
  });
  Object.assign(texts, input.texts);
  const leaks: string[] = [];
  for (const [where, text] of Object.entries(texts)) {
    for (const s of secrets) if (text.includes(s.value)) leaks.push(`${s.label} in ${where}`);
  }
  const bytesChecked = Object.values(texts).reduce((n, t) => n + t.length, 0);
  return { leaks, secretsChecked: secrets.length, bytesChecked };
}

export type RealStep = (opts?: InvokeStepOptions) => Promise<void>;
export interface StepCall {
  step: RotationStep;
  token: string;
  attempt: number;
  real: RealStep;
}

/** A rotation in which `hook` stands between the rotation service and the real (child-process) step. */
export function rotateWith(stack: LocalStack, hook: (call: StepCall) => Promise<void>, maxAttempts?: number): Promise<RotationResult> {
  const attempts = new Map<RotationStep, number>();
  return stack.rotate({
    maxAttempts,
    invokeStep: async (step, token) => {
      const attempt = (attempts.get(step) ?? 0) + 1;
      attempts.set(step, attempt);
      await hook({ step, token, attempt, real: (opts) => stack.invokeStep(step, token, opts) });
    },
  });
}

export interface Before {
  currentVersion: string;
  currentFingerprint: string;
  currentIssuedAt: number;
  deployments: Map<string, string>;
  logsAt: number;
  rejectionsAt: number;
}

export async function snapshot(stack: LocalStack, live: string[]): Promise<Before> {
  const stages = await stagesOf(stack);
  const currentVersion = Object.entries(stages).find(([, s]) => s.includes('AWSCURRENT'))![0];
  const current = await stack.readStage('AWSCURRENT');
  return {
    currentVersion,
    currentFingerprint: fingerprint(current.password),
    currentIssuedAt: Date.parse(current.issuedAt),
    deployments: await deploymentIds(stack, live),
    logsAt: stack.handlerLogs.length,
    rejectionsAt: stack.endpoint.stats.rejections.length,
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The handler's one-line JSON log records in the given invocation logs (other lines skipped). */
export function logRecords(logs: string[]): Array<Record<string, unknown>> {
  const records: Array<Record<string, unknown>> = [];
  for (const line of logs.join('\n').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      records.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not one of the handler's records
    }
  }
  return records;
}

/**
 * The `finishSecret: redeploy summary` records: services, redeployed, alreadyCurrent, gone, notFound, invalidEntries,
 * failed, throttleRetries.
 */
export function redeploySummaries(logs: string[]): Array<Record<string, unknown>> {
  return logRecords(logs).filter((r) => r.message === 'finishSecret: redeploy summary');
}
