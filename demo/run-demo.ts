/**
 * `npm run demo`: a one-command tour of what cdk-dsql-url-secret does, with no AWS account.
 *
 * It starts the local stack the integration tests use (moto for Secrets Manager/ECS/SSM, a real
 * PostgreSQL behind a DSQL-style TLS endpoint that verifies SigV4 IAM tokens), then lets the rotation
 * service stand-in run the shipped handler bundle twice, and shows what each rotation changed: secret
 * versions and stages, the token's lifetime, the ECS deployments it forced, and real clients (node-postgres,
 * psql) connecting with the URL from AWSCURRENT. Tokens, passwords and keys are never printed, and a
 * leak check at the end proves it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DescribeServicesCommand, DescribeTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { SignerKeysValue } from '../lib/contract';
import { deploymentsOf, DeploymentInfo } from '../test/support/ecs-fixture';
import { functionBundle } from '../test/support/function-bundles';
import { LocalStack, startLocalStack } from '../test/support/local-stack';
import { findMotoPython } from '../test/support/moto-server';
import { describeStages, RotationEvent, RotationFailedError, RotationStep } from '../test/support/rotation-service';
import { psqlVersion, QueryOutcome, queryWithNodePostgres, queryWithPsql } from './clients';
import { ARROW, c, duration, FAIL, isoSeconds, maskUrl, ms, OK, Output, pad, shortId, timeMs } from './report';

const ROTATIONS = 2;
const STEP_NOTES: Record<RotationStep, string> = {
  createSecret: 'sign a token, store the URL as AWSPENDING',
  setSecret: 'nothing to set: DSQL checks tokens against IAM',
  testSecret: 'real TLS connection with the new token + SELECT 1',
  finishSecret: 'promote to AWSCURRENT, redeploy bound services',
};

const out = new Output();
// Count from process start: ts-node's compile time is part of what the user waits for.
const t0 = Date.now() - process.uptime() * 1000;
let stack: LocalStack | undefined;
let starting: Promise<LocalStack> | undefined;
let interrupted: NodeJS.Signals | undefined;
/** Every token the demo has seen: the leak check looks for them in the output. */
const secretsSeen = new Set<string>();
/** The signer user's key material seen in its keys secret, and what each is. */
const signerKeys = new Map<string, string>();

class DemoError extends Error {}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  out.line(`${c.bold('cdk-dsql-url-secret demo')}: rotate an Aurora DSQL connection URL locally (no AWS account)`);
  const tally = { attempts: 0, redeployed: 0 };
  let failure: unknown;
  try {
    await tour(tally);
  } catch (err) {
    failure = err;
  } finally {
    await cleanup();
  }
  if (interrupted) return 1;

  if (failure === undefined) {
    out.section('Summary');
    const svc = stack!.serviceArns.length;
    out.line(
      `  rotations            ${ROTATIONS} of ${ROTATIONS} succeeded (${stack!.handlerLogs.length} handler invocations, ` +
        `${tally.attempts - ROTATIONS} retries)`,
    );
    out.line(`  services redeployed  ${tally.redeployed} (${svc} services × ${ROTATIONS} rotations)`);
    const { accepted, rejected } = stack!.endpoint.stats;
    out.line(`  endpoint             ${accepted} connections accepted, ${rejected} rejected${rejected === 1 ? ' (the forged token)' : ''}`);
    out.line(`  total time           ${ms(Date.now() - t0)} ${c.dim('(local stack stopped)')}`);
  } else {
    out.line();
    out.line(`${FAIL} ${c.red('demo failed:')} ${describeFailure(failure)}`);
    const rejection = stack?.endpoint.stats.rejections.at(-1);
    if (rejection) out.line(`  ${c.dim(`the endpoint's last rejection (user ${rejection.user}): ${rejection.reason}`)}`);
  }

  const leak = leakCheck();
  if (leak) {
    out.line(`${FAIL} ${c.red('leak check failed:')} ${leak}`);
    return 1;
  }
  const handlerLines = (stack?.handlerLogs ?? []).join('\n').split('\n').filter(Boolean).length;
  const demoLines = out.lineCount() + 1;
  out.line(
    `${failure === undefined ? OK : ' '} leak check: no token, password or key in ${demoLines + handlerLines} lines of output ` +
      c.dim(`(demo ${demoLines}, handler logs ${handlerLines})`),
  );
  return failure === undefined ? 0 : 1;
}

async function tour(tally: { attempts: number; redeployed: number }): Promise<void> {
  // --- Preflight: fail early with a clear message --------------------------------------------------------
  out.section('Local stack');
  // The demo runs rotations only: the rotation function's bundle.
  const rotationBundle = functionBundle('rotation');
  if (!fs.existsSync(rotationBundle)) throw new DemoError(`rotation function bundle not found at ${rotationBundle}: run npm run bundle`);
  const bundle = fs.statSync(rotationBundle);
  out.line(
    `  ${OK} ${pad('rotation bundle', 20)} ${path.relative(process.cwd(), rotationBundle)} ` +
      c.dim(`(${(bundle.size / 1024).toFixed(0)} KiB, built ${isoSeconds(bundle.mtime)})`),
  );
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

  // --- Start everything -----------------------------------------------------------------------------------
  const started = Date.now();
  let serversUpAt = 0;
  out.status(`starting moto and PostgreSQL ${pgVersion}, then the DSQL-style endpoint`);
  // The construct's default signer: a dedicated IAM user whose access key the rotation function replaces at every rotation.
  starting = startLocalStack({
    accessKeySigner: {},
    log: () => {
      if (!serversUpAt) {
        serversUpAt = Date.now();
        out.status('creating the secret and the ECS cluster with 3 services');
      }
    },
  });
  stack = await starting;
  const s = stack;
  const servers = ms((serversUpAt || Date.now()) - started);
  const proxyPort = new URL(s.proxy.endpoint).port;
  out.line(`  ${OK} ${pad('moto', 20)} ${s.moto.endpoint} ${c.dim(`(Secrets Manager, ECS, SSM; behind a fault proxy on :${proxyPort})`)}`);
  out.line(`  ${OK} ${pad(`PostgreSQL ${pgVersion}`, 20)} 127.0.0.1:${s.postgres.port} ${c.dim('(throwaway data directory)')}`);
  out.line(
    `  ${OK} ${pad('DSQL-style endpoint', 20)} ${s.endpoint.host}:${s.endpoint.port} ` +
      `${c.dim(`(TLS only, checks SigV4 IAM tokens; all up after ${servers})`)}`,
  );

  const secretName = s.secretArn.split(':secret:')[1] ?? s.secretArn;
  out.line(`  ${OK} ${pad('secret', 20)} ${secretName} ${c.dim('(placeholder value: no token before the first rotation)')}`);
  out.line(
    `  ${OK} ${pad('signer', 20)} IAM user ${s.accessKeySigner!.userName} ` +
      c.dim('(TokenSigner.managedAccessKey(), the default: a new access key at every rotation, in a secret of its own)'),
  );
  const byCluster = new Map<string, string[]>();
  for (const arn of s.serviceArns) {
    const [, cluster, name] = arn.split(':').slice(5).join(':').split('/');
    byCluster.set(cluster, [...(byCluster.get(cluster) ?? []), name]);
  }
  const valueFrom = await secretReference(s);
  for (const [cluster, names] of byCluster) {
    out.line(
      `  ${OK} ${pad('ECS cluster', 20)} ${cluster} with ${names.length} services: ${names.join(', ')} ` +
        `${c.dim(`(after ${ms(Date.now() - started)})`)}`,
    );
  }
  out.line(`    ${c.dim('task definition: DATABASE_URL from')} ${valueFrom}`);
  const placeholder = Object.entries(await describeStages(s.sm, s.secretArn)).find(([, st]) => st.includes('AWSCURRENT'))?.[0];

  // --- Rotations ------------------------------------------------------------------------------------------
  for (let n = 1; n <= ROTATIONS; n++) {
    const before = await deploymentsOf(s.ecs, s.serviceArns);
    out.section(`Rotation ${n} of ${ROTATIONS}`);
    const result = await s.rotate({
      onProgress: progress,
      // The local endpoint learns the user's keys from moto's IAM, as DSQL would from IAM: before testSecret connects.
      invokeStep: async (step, token) => {
        if (step === 'testSecret') await s.syncSignerKeys();
        await s.invokeStep(step, token);
      },
    });
    await rememberSignerKeys(s);
    tally.attempts += result.attempts;

    // Versions and stages.
    const stages = await describeStages(s.sm, s.secretArn);
    const versions = Object.entries(stages)
      .sort(([, a], [, b]) => stageRank(a) - stageRank(b))
      .map(([id, st]) => `${c.cyan(shortId(id))} ${st.join(',')}${id === placeholder ? c.dim(' (placeholder)') : ''}`);
    out.line(`  ${pad('versions', 10)} ${versions.join('   ')}`);
    if (!stages[result.versionId]?.includes('AWSCURRENT'))
      throw new DemoError(`version ${shortId(result.versionId)} is not AWSCURRENT after rotation ${n}`);

    // The new value: lifetime and masked URL.
    const current = await s.readStage('AWSCURRENT');
    remember(current.password);
    const left = Date.parse(current.expiresAt) - Date.now();
    out.line(
      `  ${pad('token', 10)} issued ${isoSeconds(current.issuedAt)}, expires ${isoSeconds(current.expiresAt)} ` +
        `${c.dim(`(${duration(left)} left; ${current.password.length} chars, not shown)`)}`,
    );
    out.line(`  ${pad('url', 10)} ${maskUrl(current.url)}`);

    // The deployments finishSecret forced.
    const after = await deploymentsOf(s.ecs, s.serviceArns);
    const idWidth = Math.max(...s.serviceArns.map((arn) => newest(before.get(arn))?.id.length ?? 6));
    s.serviceArns.forEach((arn, i) => {
      const old = newest(before.get(arn));
      const now = newest(after.get(arn));
      if (!now || now.id === old?.id) throw new DemoError(`service ${arn.split('/').pop()} was not redeployed by rotation ${n}`);
      tally.redeployed++;
      out.line(
        `  ${pad(i === 0 ? 'redeploy' : '', 10)} ${pad(arn.split('/').pop()!, 6)} ${pad(old?.id ?? '(none)', idWidth)} ${ARROW} ${pad(now.id, 27)} ` +
          c.dim(`created ${timeMs(now.createdAt)}`),
      );
    });

    // A real client, given only the URL, as a new task would be.
    const warnings = await query('query', 'node-postgres', () => queryWithNodePostgres(current.url, s.endpoint.caFile));
    if (n === 1 && warnings.length) out.line(`  ${pad('', 10)} ${c.dim(`note: ${warnings.join('; ')}`)}`);
    if (psql) await query('', `psql ${psql.split(' ')[0]}`, () => queryWithPsql(current.url));
    else if (n === 1) out.line(`  ${pad('', 10)} ${c.yellow('psql not installed: skipping the libpq client')}`);
  }

  // --- Old tasks --------------------------------------------------------------------------------------------
  out.section('Tasks started before the last rotation');
  const previous = await s.readStage('AWSPREVIOUS');
  remember(previous.password);
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
  remember(forged);
  const forgedUrl = current.url.replace(encodeURIComponent(current.password), encodeURIComponent(forged));
  const refused = await queryWithNodePostgres(forgedUrl, s.endpoint.caFile);
  if (refused.ok) throw new DemoError('the endpoint accepted a forged token');
  const reason = s.endpoint.stats.rejections.at(-1)?.reason ?? refused.message;
  out.line(`  ${OK} a forged token (one signature character changed) is refused: ${c.dim(reason)}`);
}

// ---------------------------------------------------------------------------------------------------------

/** Live progress of the rotation service: one line per finished step, a transient line while it runs. */
function progress(e: RotationEvent): void {
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

/** Runs one client query and prints its row; returns the client's warnings. */
async function query(label: string, client: string, run: () => Promise<QueryOutcome>): Promise<string[]> {
  const started = Date.now();
  out.status(`connecting with ${client}`);
  const r = await run();
  if (!r.ok) throw new DemoError(`${client} could not use the AWSCURRENT URL: ${r.message}`);
  out.line(
    `  ${pad(label, 10)} ${pad(client, 14)} ${r.row.user} | ${isoSeconds(pgTime(r.row.now))} | ${r.row.version} ` +
      `${c.dim(`(${ms(Date.now() - started)})`)}`,
  );
  return r.warnings;
}

/** Stops everything the local stack started; safe to call twice. */
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    if (!stack && starting) {
      // Interrupted while starting: let startup finish (it cleans up after itself if it fails), then stop.
      stack = await Promise.race([
        starting.catch(() => undefined),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000).unref()),
      ]);
    }
    if (!stack) return;
    out.status('stopping moto, PostgreSQL and the endpoint');
    await stack.stop();
    out.clearStatus();
  })());
}

/** One readable message; a failed rotation is summed up by its last failure (each was shown live). */
function describeFailure(err: unknown): string {
  if (err instanceof RotationFailedError) {
    const last = err.failures.at(-1);
    return (
      `rotation failed after ${err.failures.length} attempt(s); AWSPENDING is left on version ${shortId(err.token)}` +
      (last ? `. Last error, in ${last.step}: ${last.message}` : '')
    );
  }
  return err instanceof Error ? err.message : String(err);
}

function leakCheck(): string | undefined {
  const needles = new Map<string, string>();
  for (const token of secretsSeen) {
    needles.set(token, 'a token');
    needles.set(encodeURIComponent(token), 'a percent-encoded token');
    const signature = /X-Amz-Signature=([0-9a-f]{64})/.exec(token)?.[1];
    if (signature) needles.set(signature, "a token's signature");
  }
  if (stack) needles.set(stack.signer.secretAccessKey, "the signer's secret access key");
  for (const [needle, what] of signerKeys) needles.set(needle, what);
  const haystacks: Array<[string, string]> = [
    ['demo output', out.text()],
    ['handler logs', (stack?.handlerLogs ?? []).join('\n')],
  ];
  for (const [needle, what] of needles) {
    if (needle.length < 16) continue; // the placeholder's empty password is not a secret
    for (const [where, text] of haystacks) if (text.includes(needle)) return `${what} appears in the ${where}`;
  }
  if (secretsSeen.size === 0 && stack) return 'no token was read, nothing to check against';
  return undefined;
}

/** The signer user's keys, as the keys secret holds them: neither a secret part nor a whole key id may be printed. */
async function rememberSignerKeys(s: LocalStack): Promise<void> {
  const out = await s.sm.send(new GetSecretValueCommand({ SecretId: s.accessKeySigner!.keysSecretArn, VersionStage: 'AWSCURRENT' }));
  for (const key of (JSON.parse(out.SecretString ?? '{}') as Partial<SignerKeysValue>).keys ?? []) {
    signerKeys.set(key.secretAccessKey, "the signer user's secret access key");
    signerKeys.set(key.accessKeyId, 'a whole access key id of the signer user');
  }
}

function remember(token: string): void {
  if (token) secretsSeen.add(token);
}

// ---------------------------------------------------------------------------------------------------------

function installedPostgres(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  return fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a))[0];
}

/** The task definition's `valueFrom` for DATABASE_URL, with the ARN's account/region part elided. */
async function secretReference(s: LocalStack): Promise<string> {
  const [, cluster] = s.serviceArns[0].split(':').slice(5).join(':').split('/');
  const svc = await s.ecs.send(new DescribeServicesCommand({ cluster, services: [s.serviceArns[0]] }));
  const td = await s.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: svc.services![0].taskDefinition! }));
  const ref = td.taskDefinition?.containerDefinitions?.flatMap((d) => d.secrets ?? []).find((x) => x.name === 'DATABASE_URL')?.valueFrom;
  if (!ref?.startsWith(s.secretArn))
    throw new DemoError(`the task definition does not inject DATABASE_URL from the secret (valueFrom ${ref})`);
  return `…:secret:${ref.split(':secret:')[1]}`;
}

const stageRank = (stages: string[]) => (stages.includes('AWSCURRENT') ? 0 : stages.includes('AWSPENDING') ? 1 : 2);

function newest(deployments: DeploymentInfo[] | undefined): DeploymentInfo | undefined {
  return [...(deployments ?? [])].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
}

/** node-postgres gives ISO-8601; psql gives `2025-06-01 12:00:04.123456+00`. */
function pgTime(text: string): Date {
  const d = new Date(text);
  if (!Number.isNaN(d.getTime())) return d;
  return new Date(text.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00'));
}

// ---------------------------------------------------------------------------------------------------------

// The AWS SDK warns on Node.js 20 that future SDK releases need Node.js 22: noise for this tour (the
// Lambda runtime is nodejs22.x). Other warnings are kept, on one line each.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (!/NodeVersionSupportWarning/.test(`${w.name} ${w.message}`)) out.line(c.yellow(`warning: ${w.name}: ${w.message.split('\n')[0]}`));
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130); // a second signal: give up waiting (exit hooks kill moto/postgres)
    interrupted = signal;
    out.line();
    out.line(`${FAIL} interrupted (${signal}): stopping everything the demo started`);
    out.mute();
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

main().then(
  (code) => {
    process.exitCode = code;
    // Everything is stopped; if a stray handle keeps the loop alive, do not hang CI.
    setTimeout(() => process.exit(code), 2_000).unref();
  },
  (err) => {
    process.stderr.write(`demo crashed: ${err instanceof Error ? err.stack : String(err)}\n`);
    void cleanup().finally(() => process.exit(1));
  },
);
