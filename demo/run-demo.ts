/**
 * `npm run demo`: a one-command tour of what cdk-dsql-url-secret does, with no AWS account.
 *
 * It starts the local stack the integration tests use (moto for Secrets Manager/ECS/SSM, a real
 * PostgreSQL behind a DSQL-style TLS endpoint that verifies SigV4 IAM tokens), then lets the rotation
 * service stand-in run the shipped handler bundle twice, and shows what each rotation changed: secret
 * versions and stages, the token's lifetime, the ECS deployments it forced, the URL it wrote into a bound
 * Lambda function, and real clients (node-postgres, psql) connecting with the URL from AWSCURRENT and with
 * the function's. Then the shipped watchdog runs once against modelled running tasks. Tokens, passwords
 * and keys are never printed (a URL is shown by fingerprint), and a leak check at the end proves it.
 */
import { deploymentsOf } from '../test/support/ecs-fixture';
import { LocalStack, startLocalStack } from '../test/support/local-stack';
import { describeStages } from '../test/support/rotation-service';
import { QueryOutcome, queryWithNodePostgres, queryWithPsql } from './clients';
import { LambdaConsumer, showLambdaConsumer } from './lambda-consumer';
import { LeakCheck } from './leak-check';
import { ARROW, c, DemoError, duration, FAIL, isoSeconds, maskUrl, ms, OK, Output, pad, shortId, timeMs } from './report';
import { describeFailure, newest, pgTime, preflight, printProgress, secretReference, showOldTokens, stageRank } from './tour-support';
import { showWatchdogRun } from './watchdog-run';

const ROTATIONS = 2;
/** The watchdog's rolloutAllowance (the example app's): a rollout still under way just after a rotation is not healed yet. */
const ROLLOUT_ALLOWANCE_SECONDS = 1800;
const out = new Output();
// Count from process start: ts-node's compile time is part of what the user waits for.
const t0 = Date.now() - process.uptime() * 1000;
let stack: LocalStack | undefined;
let starting: Promise<LocalStack> | undefined;
let interrupted: NodeJS.Signals | undefined;
/** Every token and signer key the demo has seen: none may appear in the output. */
const leaks = new LeakCheck();

interface Tally {
  attempts: number;
  /** Handler invocations of the rotations (the watchdog's run excluded). */
  rotationInvocations: number;
  redeployed: number;
  /** Rotations that wrote the bound function's DATABASE_URL. */
  functionUpdates: number;
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  out.line(`${c.bold('cdk-dsql-url-secret demo')}: rotate an Aurora DSQL connection URL locally (no AWS account)`);
  const tally: Tally = { attempts: 0, rotationInvocations: 0, redeployed: 0, functionUpdates: 0 };
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
      `  rotations            ${ROTATIONS} of ${ROTATIONS} succeeded (${tally.rotationInvocations} handler invocations, ` +
        `${tally.attempts - ROTATIONS} retries)`,
    );
    out.line(`  services redeployed  ${tally.redeployed} (${svc} services × ${ROTATIONS} rotations)`);
    out.line(`  functions updated    ${tally.functionUpdates} (1 function × ${ROTATIONS - 1} rotation after it was created)`);
    const { accepted, rejected } = stack!.endpoint.stats;
    out.line(`  endpoint             ${accepted} connections accepted, ${rejected} rejected${rejected === 1 ? ' (the forged token)' : ''}`);
    out.line(`  total time           ${ms(Date.now() - t0)} ${c.dim('(local stack stopped)')}`);
  } else {
    out.line();
    out.line(`${FAIL} ${c.red('demo failed:')} ${describeFailure(failure)}`);
    const rejection = stack?.endpoint.stats.rejections.at(-1);
    if (rejection) out.line(`  ${c.dim(`the endpoint's last rejection (user ${rejection.user}): ${rejection.reason}`)}`);
  }

  const leak = leaks.check(out.text(), stack);
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

async function tour(tally: Tally): Promise<void> {
  // --- Preflight: fail early with a clear message --------------------------------------------------------
  out.section('Local stack');
  const { pgVersion, psql } = await preflight(out);

  // --- Start everything -----------------------------------------------------------------------------------
  const started = Date.now();
  let serversUpAt = 0;
  out.status(`starting moto and PostgreSQL ${pgVersion}, then the DSQL-style endpoint`);
  // The construct's default signer: a dedicated IAM user whose access key the rotation function replaces at every rotation.
  starting = startLocalStack({
    accessKeySigner: {},
    // moto runs no task: the model runs each service's tasks, replaced at once by a deployment (for the watchdog's fleet check).
    taskSimulator: { startDelayMs: 0, drainMs: 0 },
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
  out.line(`    ${c.dim('task definition: DATABASE_URL from')} ${valueFrom}${c.dim('; running tasks modelled (moto runs none)')}`);
  const placeholder = Object.entries(await describeStages(s.sm, s.secretArn)).find(([, st]) => st.includes('AWSCURRENT'))?.[0];

  // --- Rotations ------------------------------------------------------------------------------------------
  let consumer: LambdaConsumer | undefined;
  // The second service's new task stays pending after the last rotation (a slow rollout), for the watchdog to see.
  const slow = s.serviceArns[1];
  for (let n = 1; n <= ROTATIONS; n++) {
    const before = await deploymentsOf(s.ecs, s.serviceArns);
    if (n === ROTATIONS) s.tasks!.setStuck(slow, true);
    out.section(`Rotation ${n} of ${ROTATIONS}`);
    const result = await s.rotate({
      onProgress: (e) => printProgress(out, e),
      // The local endpoint learns the user's keys from moto's IAM, as DSQL would from IAM: before testSecret connects.
      invokeStep: async (step, token) => {
        if (step === 'testSecret') await s.syncSignerKeys();
        await s.invokeStep(step, token);
      },
    });
    await leaks.rememberSignerKeys(s);
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
    leaks.remember(current.password);
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

    // The bound Lambda function: deployed after the first rotation; each later finishSecret writes the new URL into it.
    const bound = await showLambdaConsumer(out, s, consumer, current.url);
    consumer = bound.consumer;
    if (bound.updatedValue) tally.functionUpdates++;

    // A real client, given only the URL, as a new task would be.
    const warnings = await query('query', 'node-postgres', () => queryWithNodePostgres(current.url, s.endpoint.caFile));
    if (n === 1 && warnings.length) out.line(`  ${pad('', 10)} ${c.dim(`note: ${warnings.join('; ')}`)}`);
    if (psql) await query('', `psql ${psql.split(' ')[0]}`, () => queryWithPsql(current.url));
    else if (n === 1) out.line(`  ${pad('', 10)} ${c.yellow('psql not installed: skipping the libpq client')}`);
    const functionUrl = bound.updatedValue;
    if (functionUrl) await query('', 'node-postgres', () => queryWithNodePostgres(functionUrl, s.endpoint.caFile), "the function's value");
  }
  tally.rotationInvocations = s.handlerLogs.length;

  await showOldTokens(out, s, leaks);
  await showWatchdogRun(out, s, slow, ROLLOUT_ALLOWANCE_SECONDS);
}

// ---------------------------------------------------------------------------------------------------------

/** Runs one client query and prints its row; returns the client's warnings. */
async function query(label: string, client: string, run: () => Promise<QueryOutcome>, note = ''): Promise<string[]> {
  const started = Date.now();
  out.status(`connecting with ${client}`);
  const r = await run();
  if (!r.ok) throw new DemoError(`${client} could not use the AWSCURRENT URL: ${r.message}`);
  out.line(
    `  ${pad(label, 10)} ${pad(client, 14)} ${r.row.user} | ${isoSeconds(pgTime(r.row.now))} | ${r.row.version} ` +
      `${c.dim(`(${note ? `${note}; ` : ''}${ms(Date.now() - started)})`)}`,
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

// ---------------------------------------------------------------------------------------------------------

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
