/**
 * createSecret's access-key guard: a key that signed a token some running task
 * of a bound service still holds is never deleted. IAM allows two keys per
 * user, so createSecret deletes before it creates (functions/signer.ts); this
 * asks the fleet first (core/fleet-survey.ts), with the promotion history
 * (core/fleet.ts) telling which token each task holds, and the token telling
 * which key signed it (a key may sign several versions: see signer.ts).
 *
 * When the survey cannot tell (a failed call, a task of unknown start, a
 * version whose key cannot be read, or a task older than every recorded
 * promotion while a key may be older too), the key counts as in use: the
 * signer then keeps every key and signs with AWSCURRENT's, while a deleted
 * key kills every task still using it.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DescribeSecretCommandOutput, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseServiceArn } from '../core/ecs-services';
import { CurrentToken, fleetHistoryOf, tokenHeldBy } from '../core/fleet';
import { ecsFleetPort } from '../core/fleet-ecs-port';
import { FleetPort, surveyFleet } from '../core/fleet-survey';
import { rotationStateOf } from '../core/rotation-state';
import { PromotionHistoryTag, PromotionRecord } from '../lib/secret-tags';
import { loadBoundServices } from './bound-services';
import { HandlerConfig } from './config';
import { log } from './log';
import { DEFAULT_RETRY, RetryPolicy, withRetry } from './retry';
import { readCurrentValue } from './secret-values';

/** What the guard needs of a rotation step (StepContext provides it). */
export interface KeyGuardContext {
  readonly sm: SecretsManagerClient;
  readonly ecs: ECSClient;
  readonly ssm: SSMClient;
  readonly config: Pick<HandlerConfig, 'boundServicesParameter' | 'boundServicesParameterCount'>;
  readonly secretArn: string;
  readonly metadata: DescribeSecretCommandOutput;
  readonly retry?: RetryPolicy;
}

/** A key createSecret would delete, with what the signer keys secret says of it. */
export interface KeyToDelete {
  readonly accessKeyId: string;
  /** The version of the URL secret it was created for; a key signs that version and, reused, later ones only. */
  readonly versionId?: string;
  readonly createdAt?: Date;
}

/**
 * The access key id that signed the token of a version of the URL secret;
 * undefined when it holds no token. Throws when it cannot tell.
 */
export type SigningKeyOf = (versionId: string) => Promise<string | undefined>;

/** Whether running tasks may still use a key: `reasons` name services (the first few) and what their tasks hold. */
export type KeyGuardVerdict =
  | { readonly inUse: false }
  | { readonly inUse: true; readonly reasons: readonly string[]; readonly services: number; readonly tasks: number };

/** Services named in a verdict; the rest are counted. */
const NAMED_SERVICES = 10;

/**
 * Whether a running task of a bound service may hold a token signed by one of
 * `keys`. No bound services: no ECS call. Deletes nothing and throws nothing:
 * a survey that cannot run says "in use".
 */
export async function keysInUse(ctx: KeyGuardContext, keys: readonly KeyToDelete[], signingKeyOf: SigningKeyOf): Promise<KeyGuardVerdict> {
  if (keys.length === 0) return { inUse: false };
  const state = rotationStateOf(ctx.metadata);
  const recorded = PromotionHistoryTag.decode(ctx.metadata.Tags?.find((t) => t.Key === PromotionHistoryTag.key)?.Value);
  const fields = { secretArn: ctx.secretArn, keys: keys.length };
  let survey: Awaited<ReturnType<typeof surveyHolders>>;
  try {
    const bound = await loadBoundServices(ctx.ssm, ctx.config.boundServicesParameter, ctx.config.boundServicesParameterCount);
    if (bound.arns.length === 0) {
      log.info('createSecret: no bound services, so no task can hold an old token', fields);
      return { inUse: false };
    }
    const history = fleetHistoryOf(recorded, state, await currentToken(ctx));
    survey = await surveyHolders(
      ecsFleetPort(ctx.ecs, (call) => withRetry(call, ctx.retry ?? DEFAULT_RETRY)),
      bound.arns,
      history,
    );
  } catch (err) {
    return { inUse: true, reasons: [`the survey could not run (${errorText(err)})`], services: 0, tasks: 0 };
  }

  const deleting = new Set(keys.map((k) => k.accessKeyId));
  const keyOf = cachedKeyOf(signingKeyOf);
  const olderMayHold = keys.some((k) => mayHaveSignedBefore(k, survey.history));
  const reasons: string[] = [];
  let tasks = 0;
  for (const [service, createdAts] of survey.tasksByService) {
    let onDeleted = 0;
    let unknown = 0;
    for (const createdAt of createdAts) {
      const versionId = tokenHeldBy(createdAt, survey.history).versionId;
      if (versionId === undefined) {
        if (createdAt === undefined || olderMayHold) unknown++;
        continue;
      }
      const key = await keyOf(versionId);
      if (key === null) unknown++;
      else if (key !== undefined && deleting.has(key)) onDeleted++;
    }
    if (onDeleted + unknown === 0) continue;
    tasks += onDeleted + unknown;
    const parts = [
      onDeleted > 0 ? `${taskCount(onDeleted)} on its token` : '',
      unknown > 0 ? `${taskCount(unknown)} of unknown token` : '',
    ];
    reasons.push(`${service}: ${parts.filter((p) => p !== '').join(', ')}`);
  }
  for (const failed of survey.failed) reasons.push(`${failed.service}: could not tell (${failed.error})`);
  if (reasons.length > 0) return { inUse: true, reasons, services: reasons.length, tasks };
  log.info('createSecret: no running task holds a token of the keys being deleted', { ...fields, surveyCalls: survey.calls });
  return { inUse: false };
}

/** The reasons of a verdict as one sentence part: the first services by name, the rest counted. */
export function verdictText(reasons: readonly string[]): string {
  const named = reasons.slice(0, NAMED_SERVICES).join('; ');
  return reasons.length > NAMED_SERVICES ? `${named}; and ${reasons.length - NAMED_SERVICES} more services` : named;
}

/**
 * Whether `key` may have signed a token older than every record, which a task
 * started before them holds: unless the key was created for a recorded
 * version, or after the oldest recorded promotion (a key only signs the
 * version it was created for and later ones).
 */
function mayHaveSignedBefore(key: KeyToDelete, history: readonly PromotionRecord[]): boolean {
  if (key.versionId !== undefined && history.some((r) => r.versionId === key.versionId)) return false;
  const oldest = history[history.length - 1];
  return oldest === undefined || key.createdAt === undefined || key.createdAt.getTime() <= oldest.promotedAt.getTime();
}

/** signingKeyOf once per version; null: it could not tell. */
function cachedKeyOf(signingKeyOf: SigningKeyOf): (versionId: string) => Promise<string | undefined | null> {
  const known = new Map<string, string | undefined | null>();
  return async (versionId) => {
    if (!known.has(versionId)) known.set(versionId, await signingKeyOf(versionId).catch(() => null));
    return known.get(versionId);
  };
}

/** AWSCURRENT's issuedAt and expiresAt; undefined for the placeholder or a value without them. */
async function currentToken(ctx: KeyGuardContext): Promise<CurrentToken | undefined> {
  const value = (await readCurrentValue(ctx.sm, ctx.secretArn))?.value;
  const issuedAt = new Date(typeof value?.issuedAt === 'string' ? value.issuedAt : NaN);
  const expiresAt = new Date(typeof value?.expiresAt === 'string' ? value.expiresAt : NaN);
  return Number.isNaN(issuedAt.getTime()) || Number.isNaN(expiresAt.getTime()) ? undefined : { issuedAt, expiresAt };
}

/**
 * surveyFleet, keeping each listed task's createdAt by service: the survey
 * counts tokens by age, the guard needs which version each task holds.
 * Services whose deployments all started after the promotion are not listed:
 * their tasks hold the current token.
 */
async function surveyHolders(port: FleetPort, serviceArns: readonly string[], history: readonly PromotionRecord[]) {
  const serviceOfTask = new Map<string, string>();
  const tasksByService = new Map<string, Array<Date | undefined>>();
  const recording: FleetPort = {
    describeServices: (cluster, arns) => port.describeServices(cluster, arns),
    async listTasks(cluster, serviceName, nextToken) {
      const page = await port.listTasks(cluster, serviceName, nextToken);
      for (const arn of page.taskArns) serviceOfTask.set(arn, `${cluster}/${serviceName}`);
      return page;
    },
    async describeTasks(cluster, taskArns) {
      const tasks = await port.describeTasks(cluster, taskArns);
      for (const t of tasks) {
        const service = serviceOfTask.get(t.taskArn) ?? cluster;
        tasksByService.set(service, [...(tasksByService.get(service) ?? []), t.createdAt]);
      }
      return tasks;
    },
  };
  const survey = await surveyFleet(recording, serviceArns, history);
  const failed = survey.services
    .filter((s) => s.state === 'failed')
    .map((s) => ({ service: serviceLabel(s.serviceArn), error: s.error ?? 'unknown error' }));
  return { history, tasksByService, failed, calls: survey.calls };
}

function serviceLabel(serviceArn: string): string {
  const parts = parseServiceArn(serviceArn);
  return parts === undefined ? serviceArn : `${parts.cluster}/${parts.name}`;
}

function taskCount(n: number): string {
  return `${n} task${n === 1 ? '' : 's'}`;
}

function errorText(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return `${e.name ?? 'Error'}: ${e.message ?? String(err)}`;
}
