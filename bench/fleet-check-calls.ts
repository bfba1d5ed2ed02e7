/**
 * npm run bench:fleet-calls [-- options]
 *
 * Counts the AWS calls of ONE fleet check: the bound-services parameters read from SSM (GetParameters, 10 names
 * a call, as functions/fleet-check.ts reads them), then the REAL `surveyFleet` (core/fleet-survey.ts) over the
 * REAL ECS port (core/fleet-ecs-port.ts), against moto behind the fault proxy with the task simulator
 * (test/support/task-simulator.ts) answering ListTasks and DescribeTasks and putting the modelled deployments
 * into DescribeServices. Calls are counted where they arrive, at the proxy, and checked against the survey's
 * own count. Two states per size:
 *   steady       every deployment was created after the promotion: no task is listed
 *   mid-rollout  a share of the services (every 10th by default) still run their old deployment's tasks
 *                next to a new deployment's pending ones: those services' tasks are listed and described
 * The limit printed is ⌈N/10⌉ + 3: one DescribeServices per 10 services of a cluster plus a few more.
 *
 * Options (defaults in brackets):
 *   --sizes 10,100,500     services per run
 *   --clusters 1           services spread round-robin over this many clusters
 *   --per-parameter 7      services per bound-services parameter (the construct's count for ARNs with
 *                          CloudFormation-generated names: 500 services take 72 parameters)
 *   --rollout-every 10     in mid-rollout, every this many services is mid-rollout (10 %)
 *   --markdown             print only the markdown table
 */
import { CreateClusterCommand, CreateServiceCommand, ECSClient, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { GetParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { readBoundServices } from '../core/bound-services';
import { ecsFleetPort } from '../core/fleet-ecs-port';
import { FleetSurvey, surveyFleet } from '../core/fleet-survey';
import { boundServicesParameterName } from '../lib/contract';
import { PromotionRecord } from '../lib/secret-tags';
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
type Scenario = 'steady' | 'mid-rollout';

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
const HOUR = 3600_000;
/** The clock the simulator and the survey share: the check runs 2 minutes after the promotion. */
const PROMOTED_AT = Date.parse('2026-06-01T12:00:00Z');
const CHECK_AT = PROMOTED_AT + 120_000;
const HISTORY: PromotionRecord[] = [
  { versionId: 'current-version', promotedAt: new Date(PROMOTED_AT), expiresAt: new Date(PROMOTED_AT + 8 * HOUR) },
  { versionId: 'previous-version', promotedAt: new Date(PROMOTED_AT - 4 * HOUR), expiresAt: new Date(PROMOTED_AT + 4 * HOUR) },
];
const say = (line = '') => process.stdout.write(`${line}\n`);

/** N services over `clusters` clusters in moto (created directly, not counted), and their bound-services parameters. */
async function createFleet(moto: MotoServer, n: number, o: Opts): Promise<{ arns: string[]; base: string; parameters: number }> {
  await moto.reset();
  const ecs = new ECSClient(moto.clientConfig());
  const ssm = new SSMClient(moto.clientConfig());
  try {
    const clusters = Math.min(o.clusters, n);
    for (let c = 0; c < clusters; c++) await ecs.send(new CreateClusterCommand({ clusterName: `fleet-${c + 1}` }));
    const td = await ecs.send(
      new RegisterTaskDefinitionCommand({ family: 'app', containerDefinitions: [{ name: 'app', image: 'app:1', memory: 512 }] }),
    );
    const taskDefinition = td.taskDefinition!.taskDefinitionArn!;
    const arns: string[] = [];
    for (let i = 0; i < n; i++) {
      const cluster = `fleet-${(i % clusters) + 1}`;
      const s = await ecs.send(new CreateServiceCommand({ cluster, serviceName: `svc-${i}`, taskDefinition, desiredCount: 1 }));
      arns.push(s.service!.serviceArn!);
    }
    const base = `/bench/fleet-${n}/bound-services`;
    const parameters = Math.ceil(n / o.perParameter);
    for (let p = 0; p < parameters; p++) {
      const value = JSON.stringify(arns.slice(p * o.perParameter, (p + 1) * o.perParameter));
      await ssm.send(new PutParameterCommand({ Name: boundServicesParameterName(base, p), Type: 'String', Value: value }));
    }
    return { arns, base, parameters };
  } finally {
    ecs.destroy();
    ssm.destroy();
  }
}

/** One fleet check as the watchdog runs it: the parameters, then the survey. */
async function fleetCheck(ssm: SSMClient, ecs: ECSClient, base: string, count: number): Promise<{ arns: string[]; survey: FleetSurvey }> {
  const names = Array.from({ length: count }, (_, i) => boundServicesParameterName(base, i));
  const values = new Map<string, string>();
  for (let i = 0; i < names.length; i += 10) {
    const out = await ssm.send(new GetParametersCommand({ Names: names.slice(i, i + 10) }));
    for (const p of out.Parameters ?? []) values.set(p.Name!, p.Value ?? '[]');
  }
  const bound = await readBoundServices(base, async (name) => values.get(name), count);
  return { arns: bound.arns, survey: await surveyFleet(ecsFleetPort(ecs), bound.arns, HISTORY) };
}

async function run(moto: MotoServer, proxy: FaultProxy, n: number, scenario: Scenario, o: Opts): Promise<Row> {
  const fleet = await createFleet(moto, n, o);
  const direct = new ECSClient(moto.clientConfig());
  const motoDeployments = await deploymentsOf(direct, fleet.arns);
  direct.destroy();

  let now = PROMOTED_AT - HOUR;
  // Rollouts take minutes: at CHECK_AT the mid-rollout services' new tasks are still pending.
  const tasks = new TaskSimulator({ startDelayMs: 5 * 60_000, drainMs: 5 * 60_000, now: () => now });
  proxy.respond = proxy.rewrite = undefined;
  tasks.attach(proxy);
  const rolling = new Set(scenario === 'mid-rollout' ? fleet.arns.filter((_, i) => i % o.rolloutEvery === 0) : []);
  for (const arn of fleet.arns) {
    const deploymentId = motoDeployments.get(arn)![0].id;
    // Steady: deployed a minute after the promotion; rolling: deployed an hour before (the previous token), redeployed a minute after.
    const createdAt = rolling.has(arn) ? now : PROMOTED_AT + 60_000;
    tasks.register(arn, { desiredCount: 1, deploymentId, createdAt });
  }
  now = PROMOTED_AT + 60_000;
  for (const arn of rolling) tasks.forceNewDeployment(arn);
  now = CHECK_AT;

  // One attempt per call and no retry wrapper: with no fault injected, each SDK call is one call at the proxy.
  const ssm = new SSMClient({ ...moto.clientConfig(), endpoint: proxy.endpoint, maxAttempts: 1 });
  const ecs = new ECSClient({ ...moto.clientConfig(), endpoint: proxy.endpoint, maxAttempts: 1 });
  const before = new Map(proxy.calls);
  let result: Awaited<ReturnType<typeof fleetCheck>>;
  try {
    result = await fleetCheck(ssm, ecs, fleet.base, fleet.parameters);
  } finally {
    ssm.destroy();
    ecs.destroy();
  }
  const byOperation: Record<string, number> = {};
  for (const [op, count] of proxy.calls) if (count > (before.get(op) ?? 0)) byOperation[op] = count - (before.get(op) ?? 0);
  const sum = (ops: string[]) => ops.reduce((total, op) => total + (byOperation[op] ?? 0), 0);
  const row: Row = {
    n,
    scenario,
    parameters: fleet.parameters,
    drilledDown: result.survey.drilledDown,
    byOperation,
    ecs: sum(ECS_OPERATIONS),
    ssm: sum(SSM_OPERATIONS),
    limit: Math.ceil(n / 10) + 3,
    anomalies: [],
  };
  verify(row, result, rolling, n);
  return row;
}

/** What the survey must have seen, so that a count is never of a check that went wrong. */
function verify(row: Row, result: Awaited<ReturnType<typeof fleetCheck>>, rolling: Set<string>, n: number): void {
  const { survey } = result;
  const problems = row.anomalies;
  if (result.arns.length !== n) problems.push(`read ${result.arns.length} of ${n} services from the parameters`);
  if (survey.calls !== row.ecs) problems.push(`survey counted ${survey.calls} ECS calls, the proxy ${row.ecs}`);
  const other = Object.keys(row.byOperation).filter((op) => !ECS_OPERATIONS.includes(op) && !SSM_OPERATIONS.includes(op));
  if (other.length > 0) problems.push(`unexpected calls: ${other.join(', ')}`);
  if (survey.drilledDown !== rolling.size)
    problems.push(`listed the tasks of ${survey.drilledDown} services, ${rolling.size} were rolling`);
  for (const s of survey.services) {
    const expected = rolling.has(s.serviceArn)
      ? { state: 'surveyed', current: 1, previous: 1, older: 0 }
      : { state: 'current', current: 1 };
    const seen = {
      state: s.state,
      current: s.tasks.current,
      ...(rolling.has(s.serviceArn) ? { previous: s.tasks.previous, older: s.tasks.older } : {}),
    };
    if (JSON.stringify(seen) !== JSON.stringify(expected)) problems.push(`${s.serviceArn.split('/').pop()}: ${JSON.stringify(seen)}`);
  }
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
  const within = total <= r.limit ? 'yes' : `no (+${total - r.limit})`;
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
    for (const n of o.sizes) {
      for (const scenario of ['steady', 'mid-rollout'] as Scenario[]) rows.push(await run(moto, proxy, n, scenario, o));
    }
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
