/**
 * Parts of the demo's tour that keep no state of their own: the preflight, the rotation service's live
 * progress, the old and forged tokens, failure messages, and reading the ECS fixture's task definition
 * and deployments.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DescribeServicesCommand, DescribeTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { FunctionBundle } from '../lib/contract';
import { DeploymentInfo } from '../test/support/ecs-fixture';
import { functionBundle } from '../test/support/function-bundles';
import { LocalStack } from '../test/support/local-stack';
import { findMotoPython } from '../test/support/moto-server';
import { RotationEvent, RotationFailedError, RotationStep } from '../test/support/rotation-service';
import { psqlVersion, queryWithNodePostgres } from './clients';
import { LeakCheck } from './leak-check';
import { c, DemoError, FAIL, isoSeconds, ms, OK, Output, pad, shortId } from './report';

const STEP_NOTES: Record<RotationStep, string> = {
  createSecret: 'sign a token, store the URL as AWSPENDING',
  setSecret: 'nothing to set: DSQL checks tokens against IAM',
  testSecret: 'real TLS connection with the new token + SELECT 1',
  finishSecret: 'promote to AWSCURRENT, redeploy bound services, update bound functions',
};

/** Fails early with a clear message: the bundles, moto, PostgreSQL; psql is optional. */
export async function preflight(out: Output): Promise<{ pgVersion: string; psql: string | undefined }> {
  // The demo runs the rotation function's bundle and the watchdog's.
  for (const name of [FunctionBundle.ROTATION, FunctionBundle.WATCHDOG]) {
    const file = functionBundle(name);
    if (!fs.existsSync(file)) throw new DemoError(`${name} function bundle not found at ${file}: run npm run bundle`);
    const bundle = fs.statSync(file);
    out.line(
      `  ${OK} ${pad(`${name} bundle`, 20)} ${path.relative(process.cwd(), file)} ` +
        c.dim(`(${(bundle.size / 1024).toFixed(0)} KiB, built ${isoSeconds(bundle.mtime)})`),
    );
  }
  out.status('looking for a Python with moto');
  try {
    findMotoPython();
  } catch (err) {
    throw new DemoError((err as Error).message);
  }
  const pgVersion = installedPostgres();
  if (!pgVersion) {
    throw new DemoError('PostgreSQL server not installed: no /usr/lib/postgresql/<version>/bin/postgres (apt-get install postgresql)');
  }
  const psql = await psqlVersion();
  return { pgVersion, psql };
}

/** Live progress of the rotation service: one line per finished step, a transient line while it runs. */
export function printProgress(out: Output, e: RotationEvent): void {
  switch (e.type) {
    case 'rotation-started':
      out.line(
        `  ${c.dim('RotateSecret staged version')} ${c.cyan(shortId(e.token))} ` +
          `${c.dim('as AWSPENDING; each step runs the handler bundle in a fresh process')}`,
      );
      break;
    case 'step-started':
      out.status(`${e.step} (attempt ${e.attempt}): ${STEP_NOTES[e.step]}`);
      break;
    case 'step-succeeded':
      out.line(`  ${OK} ${pad(e.step, 13)} attempt ${e.attempt}  ${pad(ms(e.ms), 7)} ${c.dim(STEP_NOTES[e.step])}`);
      break;
    case 'step-failed':
      out.line(`  ${FAIL} ${pad(e.step, 13)} attempt ${e.attempt}  ${pad(ms(e.ms), 7)} ${c.red(e.message)}`);
      break;
    case 'rotation-succeeded':
      break;
    case 'rotation-failed':
      out.line(`  ${FAIL} rotation failed after ${e.attempts} attempts; AWSPENDING stays on ${shortId(e.token)}`);
      break;
  }
}

/** One readable message; a failed rotation is summed up by its last failure (each was shown live). */
export function describeFailure(err: unknown): string {
  if (err instanceof RotationFailedError) {
    const last = err.failures.at(-1);
    return (
      `rotation failed after ${err.failures.length} attempt(s); AWSPENDING is left on version ${shortId(err.token)}` +
      (last ? `. Last error, in ${last.step}: ${last.message}` : '')
    );
  }
  return err instanceof Error ? err.message : String(err);
}

export function installedPostgres(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  return fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a))[0];
}

/** The task definition's `valueFrom` for DATABASE_URL, with the ARN's account/region part elided. */
export async function secretReference(s: LocalStack): Promise<string> {
  const [, cluster] = s.serviceArns[0].split(':').slice(5).join(':').split('/');
  const svc = await s.ecs.send(new DescribeServicesCommand({ cluster, services: [s.serviceArns[0]] }));
  const td = await s.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: svc.services![0].taskDefinition! }));
  const ref = td.taskDefinition?.containerDefinitions?.flatMap((d) => d.secrets ?? []).find((x) => x.name === 'DATABASE_URL')?.valueFrom;
  if (!ref?.startsWith(s.secretArn))
    throw new DemoError(`the task definition does not inject DATABASE_URL from the secret (valueFrom ${ref})`);
  return `…:secret:${ref.split(':secret:')[1]}`;
}

export const stageRank = (stages: string[]) => (stages.includes('AWSCURRENT') ? 0 : stages.includes('AWSPENDING') ? 1 : 2);

export function newest(deployments: DeploymentInfo[] | undefined): DeploymentInfo | undefined {
  return [...(deployments ?? [])].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
}

/** node-postgres gives ISO-8601; psql gives `2025-06-01 12:00:04.123456+00`. */
export function pgTime(text: string): Date {
  const d = new Date(text);
  if (!Number.isNaN(d.getTime())) return d;
  return new Date(text.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00'));
}

/** The AWSPREVIOUS token still connects (tasks not yet replaced); a forged one is refused (the endpoint really checks). */
export async function showOldTokens(out: Output, s: LocalStack, leaks: LeakCheck): Promise<void> {
  out.section('Tasks started before the last rotation');
  const previous = await s.readStage('AWSPREVIOUS');
  leaks.remember(previous.password);
  const prev = await queryWithNodePostgres(previous.url, s.endpoint.caFile);
  if (!prev.ok) throw new DemoError(`the AWSPREVIOUS token no longer connects: ${prev.message}`);
  out.line(
    `  ${OK} AWSPREVIOUS token still connects (as ${prev.row.user}): tasks not yet replaced keep working ` +
      c.dim(`(until ${isoSeconds(previous.expiresAt)})`),
  );

  // A token with one character of its signature changed must be refused: the endpoint really checks.
  const current = await s.readStage('AWSCURRENT');
  const forged = current.password.replace(
    /(X-Amz-Signature=[0-9a-f]*)([0-9a-f])/,
    (_, head: string, last: string) => head + (last === '0' ? '1' : '0'),
  );
  if (forged === current.password) throw new DemoError('could not find X-Amz-Signature in the token to forge it');
  leaks.remember(forged);
  const forgedUrl = current.url.replace(encodeURIComponent(current.password), encodeURIComponent(forged));
  const refused = await queryWithNodePostgres(forgedUrl, s.endpoint.caFile);
  if (refused.ok) throw new DemoError('the endpoint accepted a forged token');
  const reason = s.endpoint.stats.rejections.at(-1)?.reason ?? refused.message;
  out.line(`  ${OK} a forged token (one signature character changed) is refused: ${c.dim(reason)}`);
}
