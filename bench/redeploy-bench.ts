/**
 * npm run bench [-- options]
 *
 * Times the finishSecret fan-out: the REAL `redeployServices` (functions/redeploy.ts, an ECSClient
 * with maxAttempts 1 like the handler, DEFAULT_RETRY) against a naive loop (UpdateService one service at a
 * time, SDK default retries, no DescribeServices), both against moto behind a proxy that adds per-call
 * latency and throttles ECS operations with a token bucket per operation. Every run starts from a clean
 * moto (reset + services recreated directly against moto, not through the proxy) and is verified
 * afterwards with DescribeServices against moto: each service must have a new deployment id and exactly
 * one successful UpdateService.
 *
 * "sdk-adaptive" (bench/sdk-adaptive.ts) is the same redeployServices with its own retries and Pacer
 * turned off and the SDK's `retryMode: 'adaptive'` doing all pacing and retrying instead.
 *
 * Speed claims about the fan-out live here, never in unit tests.
 *
 * Options (defaults in brackets):
 *   --sizes 1,10,100,500      services per run
 *   --clusters 3              services are spread round-robin over this many clusters
 *   --latency 20-50           added latency per call, ms, uniform
 *   --update-rate 5 --update-burst 10      UpdateService token bucket (sustained /s, capacity)
 *   --describe-rate 20 --describe-burst 50 DescribeServices token bucket
 *   --concurrency 5           redeployServices concurrency (the construct's default)
 *   --stagger MS              also run "ours+stagger" with staggerMs = MS
 *   --variants ours,naive     which to run, comma-separated: ours, ours+stagger (needs --stagger), naive, sdk-adaptive
 *   --naive-cap 60            stop the naive loop after this many seconds (0: never); reported and extrapolated
 *   --deadline 290            hard stop for the whole benchmark, seconds (prints what it has, exits 2)
 *   --markdown                print only the markdown table at the end (default: both tables)
 */
import { ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { clusterOf } from '../core/ecs-services';
import { redeployServices, RedeployReport } from '../functions/redeploy';
import { DEFAULT_RETRY } from '../functions/retry';
import { redeployWithSdkAdaptive, SDK_ADAPTIVE_MAX_ATTEMPTS } from './sdk-adaptive';
import { createEcsFixture, deploymentsOf } from '../test/support/ecs-fixture';
import { MotoServer, startMoto } from '../test/support/moto-server';
import { startThrottleProxy, ThrottleProxy } from './throttle-proxy';

// ---------------------------------------------------------------- options

function parseArgs(argv: string[]) {
  const opts = {
    sizes: [1, 10, 100, 500],
    clusters: 3,
    latency: [20, 50] as [number, number],
    updateRate: 5,
    updateBurst: 10,
    describeRate: 20,
    describeBurst: 50,
    concurrency: 5,
    stagger: undefined as number | undefined,
    variants: undefined as Variant[] | undefined,
    naiveCapS: 60,
    deadlineS: 290,
    markdownOnly: false,
  };
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${name} needs a non-negative number, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    switch (a) {
      case '--sizes':
        opts.sizes = (v() ?? '')
          .split(',')
          .map((s) => num('--sizes', s))
          .filter((n) => n > 0);
        break;
      case '--clusters':
        opts.clusters = Math.max(1, num(a, v()));
        break;
      case '--latency': {
        const [lo, hi] = (v() ?? '').split('-').map((s) => num(a, s));
        opts.latency = [lo, hi ?? lo];
        break;
      }
      case '--update-rate':
        opts.updateRate = num(a, v());
        break;
      case '--update-burst':
        opts.updateBurst = num(a, v());
        break;
      case '--describe-rate':
        opts.describeRate = num(a, v());
        break;
      case '--describe-burst':
        opts.describeBurst = num(a, v());
        break;
      case '--concurrency':
        opts.concurrency = Math.max(1, num(a, v()));
        break;
      case '--stagger':
        opts.stagger = num(a, v());
        break;
      case '--variants': {
        const names = (v() ?? '').split(',').filter(Boolean);
        const unknown = names.filter((name) => !VARIANT_ORDER.includes(name as Variant));
        if (unknown.length || names.length === 0)
          throw new Error(`--variants takes some of ${VARIANT_ORDER.join(',')}, got '${names.join(',')}'`);
        opts.variants = names as Variant[];
        break;
      }
      case '--naive-cap':
        opts.naiveCapS = num(a, v());
        break;
      case '--deadline':
        opts.deadlineS = num(a, v());
        break;
      case '--markdown':
        opts.markdownOnly = true;
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${require('fs').readFileSync(__filename, 'utf8').split('*/')[0]}*/\n`);
        process.exit(0);
      // eslint-disable-next-line no-fallthrough
      default:
        throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  if (opts.variants?.includes('ours+stagger') && opts.stagger === undefined) throw new Error('--variants ours+stagger needs --stagger MS');
  return opts;
}

type Opts = ReturnType<typeof parseArgs>;
type Variant = 'ours' | 'ours+stagger' | 'naive' | 'sdk-adaptive';
const VARIANT_ORDER: Variant[] = ['ours', 'ours+stagger', 'sdk-adaptive', 'naive'];

interface Row {
  n: number;
  variant: Variant;
  wallMs: number;
  describeCalls: number;
  updateCalls: number;
  otherCalls: number;
  throttled: number;
  retries: number;
  /** Services with a new deployment id and exactly one successful UpdateService. */
  verified: number;
  failed: number;
  failedSample: string[];
  /** Naive only: services never attempted because the time cap hit. */
  notReached: number;
  peakPerSec: number;
  anomalies: string[];
  /** sdk-adaptive only: what the SDK's retry quota did. */
  sdkNote?: string;
}

// ---------------------------------------------------------------- output

const say = (line = '') => process.stdout.write(`${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

function peakPerSecond(times: number[]): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i] - t[j] >= 1000) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/** This variant's wall time ÷ ours; a capped naive run is extrapolated linearly and marked '~'. */
function ratioOf(rows: Row[], other: Row): string {
  const n = other.n;
  const ours = rows.find((r) => r.n === n && r.variant === 'ours');
  if (!ours || other.variant === 'ours' || ours.wallMs <= 0) return '';
  const attempted = n - other.notReached;
  // Not like-for-like when a side left services without a new deployment: say so in the cell.
  const caveats = [
    ...(ours.verified < n ? [`ours left ${n - ours.verified}`] : []),
    ...(other.verified < attempted ? [`${other.variant} left ${attempted - other.verified}`] : []),
  ];
  const caveat = caveats.length ? ` (${caveats.join(', ')} not redeployed)` : '';
  if (other.notReached > 0) {
    if (attempted === 0) return '?';
    return `~${((other.wallMs * n) / attempted / ours.wallMs).toFixed(2)}x extrapolated${caveat}`;
  }
  return `${(other.wallMs / ours.wallMs).toFixed(2)}x${caveat}`;
}

function redeployedCell(r: Row): string {
  let cell = `${r.verified}/${r.n}`;
  if (r.notReached > 0) cell += ` (capped: ${r.notReached} not reached)`;
  return cell;
}

function tableRows(rows: Row[]): string[][] {
  const sorted = [...rows].sort((a, b) => a.n - b.n || VARIANT_ORDER.indexOf(a.variant) - VARIANT_ORDER.indexOf(b.variant));
  return sorted.map((r) => [
    String(r.n),
    r.variant,
    secs(r.wallMs),
    `D ${r.describeCalls} / U ${r.updateCalls}${r.otherCalls ? ` / other ${r.otherCalls}` : ''}`,
    String(r.throttled),
    String(r.retries),
    redeployedCell(r),
    String(r.failed),
    String(r.peakPerSec),
    ratioOf(rows, r),
  ]);
}

const HEADERS = [
  'N',
  'variant',
  'wall',
  'calls (Describe/Update)',
  'throttled',
  'retries',
  'redeployed (verified)',
  'failed',
  'peak starts/s',
  'wall ÷ ours',
];

function printText(rows: Row[]): void {
  const body = tableRows(rows);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  say(line(HEADERS));
  say(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of body) say(line(r));
}

function printMarkdown(rows: Row[]): void {
  say(`| ${HEADERS.join(' | ')} |`);
  say(`|${HEADERS.map((_, i) => (i === 0 || i === 2 ? ' ---: ' : ' --- ')).join('|')}|`);
  for (const r of tableRows(rows)) say(`| ${r.join(' | ')} |`);
}

function printModel(o: Opts): void {
  say('Model (all numbers chosen for the benchmark, not published AWS quotas):');
  say(`  latency per call     ${o.latency[0]}-${o.latency[1]} ms uniform, added by the proxy to every call (throttled ones too)`);
  say(
    `  UpdateService        token bucket: burst ${o.updateBurst}, sustained ${o.updateRate}/s (continuous refill); empty -> 400 ThrottlingException`,
  );
  say(`  DescribeServices     token bucket: burst ${o.describeBurst}, sustained ${o.describeRate}/s`);
  say('  buckets start full at every run (account idle before the rotation); other operations unthrottled');
  say(
    `  ours                 redeployServices(concurrency ` +
      `${o.concurrency}${o.stagger !== undefined ? `; +stagger run: staggerMs ${o.stagger}` : ''}), ` +
      `ECSClient maxAttempts 1, DEFAULT_RETRY (${DEFAULT_RETRY.maxAttempts} attempts, full jitter, base ${DEFAULT_RETRY.baseDelayMs} ` +
      `ms, cap ${DEFAULT_RETRY.maxDelayMs} ms)`,
  );
  say(
    '  naive                for each service, in order: UpdateService(forceNewDeployment); ECSClient SDK defaults (standard mode, maxAttempts 3;',
  );
  say(
    `                       the SDK's own backoff for throttling is full jitter, base 1 s); no DescribeServices; cap ` +
      `${o.naiveCapS ? `${o.naiveCapS} s` : 'none'}`,
  );
  say(
    `  sdk-adaptive         redeployServices(concurrency ${o.concurrency}) with its retries off (policy maxAttempts 1: Pacer never widens); ` +
      `ECSClient retryMode 'adaptive', maxAttempts ${SDK_ADAPTIVE_MAX_ATTEMPTS} (client-side rate limiter + the SDK's retry quota)`,
  );
  say(`  services spread round-robin over ${o.clusters} cluster(s) (fewer when N is smaller)`);
}

// ---------------------------------------------------------------- the run

async function main(): Promise<void> {
  let opts: Opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    say(`bench: ${(err as Error).message}`);
    process.exit(1);
  }
  const started = Date.now();
  const rows: Row[] = [];
  let moto: MotoServer | undefined;
  let proxy: ThrottleProxy | undefined;
  let ticker: NodeJS.Timeout | undefined;
  const realLog = console.log;
  let shuttingDown = false;

  const shutdown = async (why: string, code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    if (ticker) clearInterval(ticker);
    // Lanes of an interrupted redeployServices may still log as their calls fail: keep them quiet.
    console.log = () => undefined;
    if (why) say(`\n${why}`);
    if (rows.length > 0 && code !== 0) {
      say('Partial results:');
      printText(rows);
    }
    await proxy?.stop().catch(() => undefined);
    await moto?.stop().catch(() => undefined);
    say(`moto and proxy stopped; total ${secs(Date.now() - started)}`);
    process.exit(code);
  };
  process.once('SIGINT', () => void shutdown('Interrupted (SIGINT).', 130));
  process.once('SIGTERM', () => void shutdown('Terminated (SIGTERM).', 143));
  const deadline = setTimeout(() => void shutdown(`Hard deadline of ${opts.deadlineS} s reached: stopping.`, 2), opts.deadlineS * 1000);
  deadline.unref();

  try {
    printModel(opts);
    say();
    say('Starting moto...');
    moto = await startMoto();
    proxy = await startThrottleProxy({
      upstream: moto.endpoint,
      latencyMs: opts.latency,
      buckets: {
        UpdateService: { burst: opts.updateBurst, perSecond: opts.updateRate },
        DescribeServices: { burst: opts.describeBurst, perSecond: opts.describeRate },
      },
    });
    const direct = new ECSClient(moto.clientConfig());
    say(`moto ${moto.endpoint}, proxy ${proxy.endpoint}\n`);

    const variants: Variant[] = opts.variants ?? ['ours', 'naive', ...(opts.stagger !== undefined ? ['ours+stagger' as const] : [])];
    for (const [sizeIndex, n] of opts.sizes.entries()) {
      // Alternate the order so neither variant always runs on a warmer (or more loaded) moto.
      const order = sizeIndex % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) {
        rows.push(
          await runOne(
            opts,
            moto,
            proxy,
            direct,
            n,
            variant,
            (t) => {
              ticker = t;
            },
            realLog,
          ),
        );
      }
      say();
    }
    direct.destroy();
    clearTimeout(deadline);

    say(`Results (wall ÷ ours = that variant's wall ÷ ours wall, both measured in this run; total ${secs(Date.now() - started)}):\n`);
    if (!opts.markdownOnly) {
      printText(rows);
      say();
    }
    printMarkdown(rows);
    const notes = notesFor(rows);
    if (notes.length) {
      say();
      for (const note of notes) say(note);
    }
    await shutdown('', 0);
  } catch (err) {
    say(`\nBenchmark failed: ${(err as Error).stack ?? String(err)}`);
    await shutdown('', 1);
  }
}

async function createServices(direct: ECSClient, n: number, clusters: number): Promise<string[]> {
  const used = Math.min(clusters, n);
  const perCluster = Array.from({ length: used }, (_, c) => Math.floor(n / used) + (c < n % used ? 1 : 0));
  const fixtures = await Promise.all(
    perCluster.map((count, c) =>
      createEcsFixture(direct, {
        clusterName: `bench-${c + 1}`,
        services: count,
        secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-AbCdEf',
      }),
    ),
  );
  // Interleave clusters, like a bound-services list built over time.
  const arns: string[] = [];
  for (let i = 0; arns.length < n; i++) {
    for (const f of fixtures) if (i < f.serviceArns.length) arns.push(f.serviceArns[i]);
  }
  return arns;
}

async function runOne(
  opts: Opts,
  moto: MotoServer,
  proxy: ThrottleProxy,
  direct: ECSClient,
  n: number,
  variant: Variant,
  setTicker: (t: NodeJS.Timeout | undefined) => void,
  realLog: typeof console.log,
): Promise<Row> {
  const label = `[N=${n} ${variant}]`;
  await moto.reset();
  const setupStart = Date.now();
  const arns = await createServices(direct, n, opts.clusters);
  const before = await deploymentsOf(direct, arns);
  say(`${label} ${n} services created in ${secs(Date.now() - setupStart)} (directly against moto); running...`);

  proxy.reset();
  const clientConfig = { ...moto.clientConfig(), endpoint: proxy.endpoint };
  const client =
    variant === 'naive'
      ? // Spelled out, equal to the SDK defaults, so AWS_MAX_ATTEMPTS / AWS_RETRY_MODE cannot change the baseline.
        new ECSClient({ ...clientConfig, maxAttempts: 3, retryMode: 'standard' })
      : new ECSClient({ ...clientConfig, maxAttempts: 1 }); // sdk-adaptive builds its own

  const t0 = Date.now();
  const ticker = setInterval(() => {
    const u = proxy.stats.get('UpdateService');
    say(
      `${label}   ${secs(Date.now() - t0)}: UpdateService ok ${u?.ok ?? 0}/${n}, throttled ${u?.throttled ?? 0}, in flight ${proxy.inFlight()}`,
    );
  }, 3000);
  setTicker(ticker);
  // redeployServices logs one JSON line per service: keep them off the benchmark's output.
  let logLines = 0;
  console.log = () => {
    logLines++;
  };

  let failed: Array<{ arn: string; message: string }> = [];
  let retries = 0;
  let notReached = 0;
  let report: RedeployReport | undefined;
  let sdkNote: string | undefined;
  try {
    if (variant === 'naive') {
      const capAt = opts.naiveCapS > 0 ? t0 + opts.naiveCapS * 1000 : Infinity;
      for (const [i, arn] of arns.entries()) {
        if (Date.now() >= capAt) {
          notReached = arns.length - i;
          break;
        }
        try {
          const out = await client.send(new UpdateServiceCommand({ cluster: clusterOf(arn), service: arn, forceNewDeployment: true }));
          retries += (out.$metadata.attempts ?? 1) - 1;
        } catch (err) {
          const e = err as { name?: string; message?: string; $metadata?: { attempts?: number } };
          retries += (e.$metadata?.attempts ?? 1) - 1;
          failed.push({ arn, message: `${e.name}: ${e.message}` });
        }
      }
    } else if (variant === 'sdk-adaptive') {
      const result = await redeployWithSdkAdaptive(clientConfig, arns, { promotedAt: new Date(), concurrency: opts.concurrency });
      report = result.report;
      failed = report.failed.map((f) => ({ arn: f.serviceArn, message: f.message }));
      retries = result.retries;
      sdkNote = `SDK retry quota ${result.quotaLeft ?? '?'}/500 left, ${result.quotaRefusals} call(s) refused a retry by it`;
    } else {
      report = await redeployServices(client, arns, {
        promotedAt: new Date(),
        concurrency: opts.concurrency,
        staggerMs: variant === 'ours+stagger' ? opts.stagger : undefined,
      });
      failed = report.failed.map((f) => ({ arn: f.serviceArn, message: f.message }));
      retries = report.throttleRetries;
    }
  } finally {
    console.log = realLog;
  }
  const wallMs = Date.now() - t0;
  clearInterval(ticker);
  setTicker(undefined);
  client.destroy();

  // Verify against moto directly: a new deployment id, and exactly one UpdateService that succeeded.
  const after = await deploymentsOf(direct, arns);
  const anomalies: string[] = [];
  let verified = 0;
  const attempted = new Set(arns.slice(0, arns.length - notReached));
  const failedSet = new Set(failed.map((f) => f.arn));
  for (const arn of arns) {
    const changed = before.get(arn)?.[0]?.id !== after.get(arn)?.[0]?.id;
    const updates = proxy.updatesByService.get(arn) ?? 0;
    if (changed && updates === 1) verified++;
    else if (updates > 1) anomalies.push(`${arn}: ${updates} successful UpdateService calls`);
    else if (changed !== (updates === 1))
      anomalies.push(`${arn}: deployment ${changed ? 'changed' : 'unchanged'} but ${updates} UpdateService`);
    else if (attempted.has(arn) && !failedSet.has(arn)) anomalies.push(`${arn}: reported done but not redeployed`);
  }
  if (report && (report.alreadyCurrent.length || report.gone.length)) {
    anomalies.push(`redeployServices classified ${report.alreadyCurrent.length} alreadyCurrent, ${report.gone.length} gone (expected 0)`);
  }
  if (report && report.redeployed.length !== verified)
    anomalies.push(`report says ${report.redeployed.length} redeployed, verified ${verified}`);

  const stat = (op: string) => proxy.stats.get(op);
  let otherCalls = 0;
  let throttled = 0;
  for (const [op, s] of proxy.stats) {
    throttled += s.throttled;
    if (op !== 'UpdateService' && op !== 'DescribeServices') otherCalls += s.calls;
  }
  const row: Row = {
    n,
    variant,
    wallMs,
    describeCalls: stat('DescribeServices')?.calls ?? 0,
    updateCalls: stat('UpdateService')?.calls ?? 0,
    otherCalls,
    throttled,
    retries,
    verified,
    failed: failed.length,
    failedSample: failed.slice(0, 3).map((f) => `${f.arn.split('/').slice(-2).join('/')}: ${f.message}`),
    notReached,
    peakPerSec: peakPerSecond(proxy.updateTimes),
    anomalies,
    sdkNote,
  };
  say(
    `${label} done in ${secs(wallMs)}: ${verified}/${n} verified, ${failed.length} failed, ${throttled} throttled responses, ` +
      `${retries} retries${notReached ? `, CAPPED at ${opts.naiveCapS} s with ${notReached} services not reached` : ''}` +
      `${logLines && variant !== 'naive' ? ` (${logLines} handler log lines suppressed)` : ''}${sdkNote ? `; ${sdkNote}` : ''}`,
  );
  for (const f of row.failedSample) say(`${label}   failed: ${f}`);
  for (const a of anomalies.slice(0, 5)) say(`${label}   VERIFY: ${a}`);
  return row;
}

function notesFor(rows: Row[]): string[] {
  const notes: string[] = [];
  for (const r of rows) {
    if (r.failed > 0) {
      notes.push(
        `- N=${r.n} ${r.variant}: ${r.failed} service(s) NOT redeployed (throttled past the retry budget), e.g. ${r.failedSample[0]}`,
      );
    }
    if (r.notReached > 0) {
      notes.push(
        `- N=${r.n} ${r.variant}: stopped by the ${r.wallMs >= 1000 ? 'time cap' : 'cap'} after ${secs(r.wallMs)}; ` +
          `${r.notReached} services never attempted; its ratio is extrapolated linearly from the attempted ones.`,
      );
    }
    if (r.sdkNote) notes.push(`- N=${r.n} ${r.variant}: ${r.sdkNote}.`);
    if (r.anomalies.length) notes.push(`- N=${r.n} ${r.variant}: VERIFICATION PROBLEMS: ${r.anomalies.slice(0, 3).join('; ')}`);
  }
  if (!rows.some((r) => r.failed > 0 || r.notReached > 0 || r.anomalies.length))
    notes.unshift('- every run ended with every service redeployed exactly once (verified against moto).');
  notes.push(
    '- "throttled" = 400 ThrottlingException answers from the proxy; "retries" = throttle retries (ours: report.throttleRetries; ' +
      'naive, sdk-adaptive: SDK $metadata.attempts - 1). "peak starts/s" = most successful UpdateService calls in any 1 s window ' +
      '(each start later opens DSQL connections: DSQL allows 100 new connections/s, burst 1,000).',
  );
  return notes;
}

void main();
