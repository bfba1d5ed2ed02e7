/**
 * npm run bench:fleet-calls [-- options]
 *
 * Counts the AWS calls of the watchdog's fleet check: the REAL `checkFleet` (functions/fleet-check.ts: the
 * bound-services parameters, kept across warm invocations by functions/fleet-bound-services.ts, then
 * `surveyFleet` over the ECS port), against moto behind the fault proxy with the task simulator
 * (test/support/task-simulator.ts) answering ListTasks and DescribeTasks and putting the modelled deployments
 * into DescribeServices. Calls are counted where they arrive, at the proxy, and checked against the check's
 * own counts. Three rows per size, in this order, as one execution environment would run them:
 *   steady, cold       a cold start: the parameters are read; every deployment was created after the promotion,
 *                      so no task is listed
 *   steady, warm       the next invocation: the parameters' read is kept, nothing is read from SSM
 *   mid-rollout, warm  a share of the services (every 10th by default) still run their old deployment's tasks
 *                      next to a new deployment's pending ones: those services' tasks are listed and described
 * The limit printed is the steady state's budget, ⌈N/10⌉ + 3: one DescribeServices per 10 services of a cluster
 * plus a few more; mid-rollout rows are compared with it for scale only.
 *
 * Options (defaults in brackets):
 *   --sizes 10,100,500     services per run
 *   --clusters 1           services spread round-robin over this many clusters
 *   --per-parameter 7      services per bound-services parameter (the construct's count for ARNs with
 *                          CloudFormation-generated names: 500 services take 72 parameters)
 *   --rollout-every 10     in mid-rollout, every this many services is mid-rollout (10 %)
 *   --markdown             print only the markdown table
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { forgetBoundServices } from '../functions/fleet-bound-services';
import { CHECK_AT, Check, createFleet, fleetCheck, HISTORY, HOUR, PROMOTED_AT, watchdogConfig } from './fleet-check-setup';
import { deploymentsOf } from '../test/support/ecs-fixture';
import { FaultProxy, startFaultProxy } from '../test/support/fault-proxy';
import { MotoServer, startMoto } from '../test/support/moto-server';
import { TaskSimulator } from '../test/support/task-simulator';

function parseArgs(argv: string[]) {
  const opts = { sizes: [10, 100, 500], clusters: 1, perParameter: 7, rolloutEvery: 10, markdownOnly: false };
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < 1) throw new Error(`${name} needs a positive whole number, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--sizes') opts.sizes = (v() ?? '').split(',').map((s) => num(a, s));
    else if (a === '--clusters') opts.clusters = num(a, v());
    else if (a === '--per-parameter') opts.perParameter = num(a, v());
    else if (a === '--rollout-every') opts.rolloutEvery = num(a, v());
    else if (a === '--markdown') opts.markdownOnly = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${require('fs').readFileSync(__filename, 'utf8').split('*/')[0]}*/\n`);
      process.exit(0);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  return opts;
}

type Opts = ReturnType<typeof parseArgs>;
type Scenario = 'steady, cold' | 'steady, warm' | 'mid-rollout, warm';

interface Row {
  n: number;
  scenario: Scenario;
  parameters: number;
  drilledDown: number;
  byOperation: Record<string, number>;
  ecs: number;
  ssm: number;
  limit: number;
  anomalies: string[];
}

const ECS_OPERATIONS = ['DescribeServices', 'ListTasks', 'DescribeTasks', 'UpdateService'];
const SSM_OPERATIONS = ['GetParameters', 'GetParameter'];
const say = (line = '') => process.stdout.write(`${line}\n`);

/** The three checks of one size, in the order one execution environment runs them. */
async function run(moto: MotoServer, proxy: FaultProxy, n: number, o: Opts): Promise<Row[]> {
  const fleet = await createFleet(moto, n, o);
  const direct = new ECSClient(moto.clientConfig());
  const motoDeployments = await deploymentsOf(direct, fleet.arns);
  direct.destroy();

  let now = PROMOTED_AT - HOUR;
  // Rollouts take minutes: at CHECK_AT the mid-rollout services' new tasks are still pending.
  const tasks = new TaskSimulator({ startDelayMs: 5 * 60_000, drainMs: 5 * 60_000, now: () => now });
  proxy.respond = proxy.rewrite = undefined;
  tasks.attach(proxy);
  // Steady: every service deployed a minute after the promotion.
  const deploy = (arn: string, createdAt: number) =>
    tasks.register(arn, { desiredCount: 1, deploymentId: motoDeployments.get(arn)![0].id, createdAt });
  for (const arn of fleet.arns) deploy(arn, PROMOTED_AT + 60_000);
  now = CHECK_AT;

  // One attempt per call and no retry: with no fault injected, each SDK call is one call at the proxy.
  const ssm = new SSMClient({ ...moto.clientConfig(), endpoint: proxy.endpoint, maxAttempts: 1 });
  const ecs = new ECSClient({ ...moto.clientConfig(), endpoint: proxy.endpoint, maxAttempts: 1 });
  const config = watchdogConfig(fleet, n);
  const rows: Row[] = [];
  const measure = async (scenario: Scenario, rolling: Set<string>) => {
    const before = new Map(proxy.calls);
    const check = await fleetCheck(ssm, ecs, config);
    const byOperation: Record<string, number> = {};
    for (const [op, count] of proxy.calls) if (count > (before.get(op) ?? 0)) byOperation[op] = count - (before.get(op) ?? 0);
    const sum = (ops: string[]) => ops.reduce((total, op) => total + (byOperation[op] ?? 0), 0);
    const row: Row = {
      n,
      scenario,
      parameters: fleet.parameters,
      drilledDown: check.summary.drilledDown,
      byOperation,
      ecs: sum(ECS_OPERATIONS),
      ssm: sum(SSM_OPERATIONS),
      limit: Math.ceil(n / 10) + 3,
      anomalies: [],
    };
    verify(row, check, rolling, n);
    rows.push(row);
  };
  try {
    forgetBoundServices(); // a cold start
    await measure('steady, cold', new Set());
    await measure('steady, warm', new Set());
    // Mid-rollout: these services were deployed an hour before the promotion (their task holds the previous token),
    // and redeployed a minute after it.
    const rolling = new Set(fleet.arns.filter((_, i) => i % o.rolloutEvery === 0));
    now = PROMOTED_AT - HOUR;
    for (const arn of rolling) deploy(arn, now);
    now = PROMOTED_AT + 60_000;
    for (const arn of rolling) tasks.forceNewDeployment(arn);
    now = CHECK_AT;
    await measure('mid-rollout, warm', rolling);
  } finally {
    ssm.destroy();
    ecs.destroy();
  }
  return rows;
}

/** What the check must have seen, so that a count is never of a check that went wrong. */
function verify(row: Row, check: Check, rolling: Set<string>, n: number): void {
  const { summary } = check;
  const problems = row.anomalies;
  const warm = row.scenario.endsWith('warm');
  if (summary.error !== undefined) problems.push(`the check failed: ${summary.error}`);
  if (summary.services !== n) problems.push(`checked ${summary.services} of ${n} services`);
  if (summary.servicesCached !== warm) problems.push(`services ${summary.servicesCached ? '' : 'not '}from the kept read`);
  if (summary.ecsCalls !== row.ecs) problems.push(`the check counted ${summary.ecsCalls} ECS calls, the proxy ${row.ecs}`);
  if (summary.ssmCalls !== row.ssm) problems.push(`the check counted ${summary.ssmCalls} SSM calls, the proxy ${row.ssm}`);
  const other = Object.keys(row.byOperation).filter((op) => !ECS_OPERATIONS.includes(op) && !SSM_OPERATIONS.includes(op));
  if (other.length > 0) problems.push(`unexpected calls: ${other.join(', ')}`);
  if (summary.drilledDown !== rolling.size)
    problems.push(`listed the tasks of ${summary.drilledDown} services, ${rolling.size} were rolling`);
  const stale = { staleTasks: summary.staleTasks, staleServices: summary.staleServices };
  if (stale.staleTasks !== rolling.size || stale.staleServices !== rolling.size) problems.push(`stale: ${JSON.stringify(stale)}`);
  if (summary.failed.length + summary.healed.length > 0) problems.push(`failed ${summary.failed.length}, healed ${summary.healed.length}`);
  // The oldest token running: the previous one while old tasks run, else AWSCURRENT's.
  const expected = ((rolling.size > 0 ? HISTORY[1] : HISTORY[0]).expiresAt.getTime() - CHECK_AT) / 1000;
  if (check.secondsLeft !== expected) problems.push(`FleetTokenSecondsLeft ${check.secondsLeft}, expected ${expected}`);
  if (problems.length > 6) problems.splice(6, problems.length - 6, `… ${problems.length - 6} more`);
}

const HEADERS = [
  'N',
  'state',
  'params',
  'listed',
  'DescribeServices',
  'ListTasks',
  'DescribeTasks',
  'GetParameters',
  'ECS',
  'SSM',
  'total',
  'limit',
  'within',
];

function cells(r: Row): string[] {
  const op = (name: string) => String(r.byOperation[name] ?? 0);
  const total = r.ecs + r.ssm;
  // The budget is the steady state's: a rollout's services are listed on purpose.
  const over = total > r.limit ? ` (+${total - r.limit})` : '';
  const within = r.scenario.startsWith('steady') ? (over === '' ? 'yes' : `no${over}`) : `not steady${over}`;
  const base = [
    String(r.n),
    r.scenario,
    String(r.parameters),
    String(r.drilledDown),
    op('DescribeServices'),
    op('ListTasks'),
    op('DescribeTasks'),
  ];
  return [...base, op('GetParameters'), String(r.ecs), String(r.ssm), String(total), String(r.limit), within];
}

function printTables(rows: Row[], o: Opts): void {
  if (!o.markdownOnly) {
    const body = rows.map(cells);
    const widths = HEADERS.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
    const line = (r: string[]) =>
      r
        .map((c, i) => (i < 2 || i === r.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
        .join('  ')
        .trimEnd();
    say(line(HEADERS));
    say(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of body) say(line(r));
    say();
  }
  say(`| ${HEADERS.join(' | ')} |`);
  say(`|${HEADERS.map((_, i) => (i < 2 || i === HEADERS.length - 1 ? ' --- ' : ' ---: ')).join('|')}|`);
  for (const r of rows) say(`| ${cells(r).join(' | ')} |`);
  const anomalies = rows.flatMap((r) => r.anomalies.map((a) => `N=${r.n} ${r.scenario}: ${a}`));
  if (anomalies.length > 0) say(`\nANOMALIES (the counts above may not be of a correct check):\n  ${anomalies.join('\n  ')}`);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (!o.markdownOnly) {
    say(`Fleet check calls: sizes ${o.sizes.join(', ')}; ${o.clusters} cluster(s); ${o.perParameter} services a parameter;`);
    say(`mid-rollout: every ${o.rolloutEvery}th service; 1 task a service; ECS and SSM calls counted at the proxy.\n`);
  }
  const moto = await startMoto();
  const proxy = await startFaultProxy(moto.endpoint);
  const rows: Row[] = [];
  try {
    for (const n of o.sizes) rows.push(...(await run(moto, proxy, n, o)));
  } finally {
    await proxy.stop();
    await moto.stop();
  }
  printTables(rows, o);
  if (rows.some((r) => r.anomalies.length > 0)) process.exitCode = 1;
}

main().catch((err) => {
  say(`bench: ${(err as Error).stack ?? err}`);
  process.exit(2);
});
