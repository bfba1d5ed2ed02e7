/**
 * createSecret's access-key guard: a key that signed a token some running task
 * of a bound service still holds is never deleted. IAM allows two keys per
 * user, so createSecret deletes before it creates (functions/signer.ts); this
 * asks the fleet first (core/fleet-survey.ts), with the promotion history
 * (core/fleet.ts) telling which token each task holds.
 *
 * When the survey cannot tell (a failed call, a task of unknown start, or a
 * task older than every recorded promotion while the key's version is not
 * recorded), the key stays: a refused rotation is retried and the watchdog
 * heals stuck services, while a deleted key kills every task still using it.
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

/** A key createSecret is about to delete, and the version of the URL secret whose token it signed, when known. */
export interface KeyToDelete {
  readonly accessKeyId: string;
  readonly versionId?: string;
}

/** Services named in a refusal; the rest are counted. */
const NAMED_SERVICES = 10;

/**
 * Throws, before anything is deleted, when a running task of a bound service
 * may hold a token signed by one of `keys`. Only keys of AWSPREVIOUS or of a
 * recorded promotion can be held; keys of versions never promoted (orphans of
 * failed rotations) need no survey. No bound services: no ECS call.
 */
export async function refuseToDeleteKeysInUse(ctx: KeyGuardContext, keys: readonly KeyToDelete[]): Promise<void> {
  const state = rotationStateOf(ctx.metadata);
  const recorded = PromotionHistoryTag.decode(ctx.metadata.Tags?.find((t) => t.Key === PromotionHistoryTag.key)?.Value);
  const promoted = (v: string | undefined): v is string =>
    v !== undefined && v !== state.current && (v === state.previous || recorded.some((r) => r.versionId === v));
  const versions = [...new Set(keys.map((k) => k.versionId).filter(promoted))];
  if (versions.length === 0) return;

  const fields = { secretArn: ctx.secretArn, versions: versions.join(', ') };
  let survey: Awaited<ReturnType<typeof surveyHolders>>;
  try {
    const bound = await loadBoundServices(ctx.ssm, ctx.config.boundServicesParameter, ctx.config.boundServicesParameterCount);
    if (bound.arns.length === 0) {
      log.info('createSecret: no bound services, so no task can hold an old token', fields);
      return;
    }
    const history = fleetHistoryOf(recorded, state, await currentToken(ctx));
    survey = await surveyHolders(
      ecsFleetPort(ctx.ecs, (call) => withRetry(call, ctx.retry ?? DEFAULT_RETRY)),
      bound.arns,
      history,
    );
  } catch (err) {
    throw refusal(versions, [`the survey could not run (${errorText(err)})`]);
  }

  const reasons: string[] = [];
  for (const version of versions) {
    for (const [service, createdAts] of survey.tasksByService) {
      const holding = createdAts.filter((createdAt) => mayHold(createdAt, survey.history, version));
      if (holding.length === 0) continue;
      const unknown = holding.filter((createdAt) => tokenHeldBy(createdAt, survey.history).versionId === undefined).length;
      const known = holding.length - unknown;
      const parts = [known > 0 ? `${taskCount(known)} on its token` : '', unknown > 0 ? `${taskCount(unknown)} of unknown token` : ''];
      reasons.push(`${service}: ${parts.filter((p) => p !== '').join(', ')}`);
    }
  }
  for (const failed of survey.failed) reasons.push(`${failed.service}: could not tell (${failed.error})`);
  if (reasons.length > 0) {
    log.warn('createSecret: refusing to delete an access key running tasks may still use', { ...fields, services: reasons.length });
    throw refusal(versions, reasons);
  }
  log.info('createSecret: no running task holds a token of the keys being deleted', { ...fields, surveyCalls: survey.calls });
}

/**
 * Whether a task created at `createdAt` may hold `versionId`'s token: it
 * holds it, or its token is unknown and could be it (no start time, or the
 * version is not in the history, so "older than every record" does not rule
 * it out).
 */
function mayHold(createdAt: Date | undefined, history: readonly PromotionRecord[], versionId: string): boolean {
  const held = tokenHeldBy(createdAt, history).versionId;
  if (held !== undefined) return held === versionId;
  return createdAt === undefined || !history.some((r) => r.versionId === versionId);
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

function refusal(versions: readonly string[], reasons: readonly string[]): Error {
  const named = reasons.slice(0, NAMED_SERVICES).join('; ');
  const more = reasons.length > NAMED_SERVICES ? `; and ${reasons.length - NAMED_SERVICES} more services` : '';
  return new Error(
    `createSecret: the access key that signed version ${versions.join(', ')} stays, because running tasks may still use ` +
      `its token: ${named}${more}. The watchdog redeploys services whose tasks outlive their rollout, and a later rotation ` +
      'deletes the key once no task uses it. No access key was deleted or created.',
  );
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
