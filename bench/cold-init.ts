/**
 * npm run bench:cold-init [-- --runs 11 --markdown --check]
 *
 * What each function's bundle costs at cold start, against the least it could cost. For every
 * function it builds, in one run and with the same esbuild options (scripts/function-build-options.json):
 * - ours: functions/entry/<name>.ts, what `npm run bundle` ships;
 * - minimal: an entry that only imports and constructs the clients the function must load (MINIMAL).
 * Then it loads each bundle in a fresh Node.js process and takes the CPU time (user + system,
 * process.cpuUsage) around require(): Lambda bills and throttles init by CPU, and wall time on a
 * shared machine is noise. Runs alternate ours/minimal (order flipped every round) and the median of
 * --runs is reported with the ratio ours / minimal. Target: at most 1.2x for every function
 * (--check: exit 1 when one is above).
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { build, BuildOptions } from 'esbuild';
import { FunctionBundle, FunctionBundleName, HANDLER_EXPORT } from '../lib/contract';
import sharedOptions from '../scripts/function-build-options.json';

const ROOT = path.join(__dirname, '..');
const TARGET_RATIO = 1.2;

/** Constructing the SDK clients at module level, as a function that keeps them across invocations does. */
const CLIENT = {
  sm: { from: '@aws-sdk/client-secrets-manager', name: 'SecretsManagerClient' },
  ecs: { from: '@aws-sdk/client-ecs', name: 'ECSClient' },
  ssm: { from: '@aws-sdk/client-ssm', name: 'SSMClient' },
  iam: { from: '@aws-sdk/client-iam', name: 'IAMClient' },
  dsql: { from: '@aws-sdk/client-dsql', name: 'DSQLClient' },
};

/** The clients each function must load: anything more in its bundle is a cost it need not pay. */
const MINIMAL: Record<FunctionBundleName, { clients: Array<keyof typeof CLIENT>; signer: boolean; pg: boolean }> = {
  [FunctionBundle.ROTATION]: { clients: ['sm', 'ecs', 'ssm', 'iam'], signer: true, pg: true },
  [FunctionBundle.WATCHDOG]: { clients: ['sm'], signer: false, pg: true },
  // DSQL: the cluster's status (GetCluster) before the first rotation.
  [FunctionBundle.INITIAL_ROTATION]: { clients: ['sm', 'iam', 'dsql'], signer: false, pg: false },
  // Signs its own admin token and connects: no AWS client at all.
  [FunctionBundle.ROLE_BOOTSTRAP]: { clients: [], signer: true, pg: true },
};

function minimalEntry(name: FunctionBundleName): string {
  const spec = MINIMAL[name];
  const lines: string[] = [];
  for (const c of spec.clients) lines.push(`import { ${CLIENT[c].name} } from '${CLIENT[c].from}';`);
  if (spec.signer) {
    lines.push(
      "import { DsqlSigner } from '@aws-sdk/dsql-signer';",
      "import { defaultProvider } from '@aws-sdk/credential-provider-node';",
    );
  }
  if (spec.pg) lines.push("import { Client } from 'pg';");
  lines.push(`const clients = [${spec.clients.map((c) => `new ${CLIENT[c].name}({})`).join(', ')}];`);
  // Used by the handler so the bundler keeps them; constructed per invocation, as the functions do.
  const used = [
    ...(spec.signer ? ['new DsqlSigner({ hostname: event.host, region: event.region, credentials: defaultProvider() })'] : []),
    ...(spec.pg ? ['new Client({ host: event.host })'] : []),
  ];
  lines.push(`export const ${HANDLER_EXPORT} = async (event: any) => [clients, ${used.join(', ')}].length;`);
  return lines.join('\n');
}

async function buildBundle(outfile: string, entry: { file: string } | { contents: string }): Promise<number> {
  const result = await build({
    ...(sharedOptions as BuildOptions),
    ...('file' in entry
      ? { entryPoints: [entry.file] }
      : { stdin: { contents: entry.contents, resolveDir: ROOT, loader: 'ts', sourcefile: 'minimal.ts' } }),
    absWorkingDir: ROOT,
    outfile,
    metafile: false,
    logLevel: 'error',
  });
  if (result.errors.length > 0) throw new Error(`esbuild failed for ${outfile}`);
  return fs.statSync(outfile).size;
}

// The child measures only require(): process start-up and Node's own bootstrap are the same for both.
const PROBE = `const f = process.argv[1]; const t = process.cpuUsage(); const m = require(f); const d = process.cpuUsage(t);
if (typeof m[${JSON.stringify(HANDLER_EXPORT)}] !== 'function') process.exit(3);
process.stdout.write(String((d.user + d.system) / 1000));`;

async function loadCpuMs(file: string): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', PROBE, file], {
    // What Lambda gives a function (region; no AWS config files), nothing from this shell.
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      AWS_REGION: 'us-east-1',
      AWS_CONFIG_FILE: '/nonexistent',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
    },
    timeout: 30_000,
  });
  return Number(stdout);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function parseArgs(argv: string[]): { runs: number; markdown: boolean; check: boolean } {
  const at = argv.indexOf('--runs');
  const runs = at >= 0 ? Number(argv[at + 1]) : 11;
  if (!Number.isInteger(runs) || runs < 9) throw new Error('--runs must be an integer of at least 9');
  return { runs, markdown: argv.includes('--markdown'), check: argv.includes('--check') };
}

async function main(): Promise<number> {
  const { runs, markdown, check } = parseArgs(process.argv.slice(2));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cold-init-'));
  try {
    const names = Object.values(FunctionBundle);
    const rows = [];
    const files: Record<string, { ours: string; minimal: string; oursBytes: number; minimalBytes: number }> = {};
    for (const name of names) {
      const ours = path.join(dir, name, 'ours.js');
      const minimal = path.join(dir, name, 'minimal.js');
      const oursBytes = await buildBundle(ours, { file: path.join(ROOT, 'functions', 'entry', `${name}.ts`) });
      const minimalBytes = await buildBundle(minimal, { contents: minimalEntry(name) });
      files[name] = { ours, minimal, oursBytes, minimalBytes };
    }
    const samples: Record<string, { ours: number[]; minimal: number[] }> = {};
    for (const name of names) samples[name] = { ours: [], minimal: [] };
    for (let round = 0; round < runs; round++) {
      for (const name of names) {
        const order = round % 2 === 0 ? (['ours', 'minimal'] as const) : (['minimal', 'ours'] as const);
        for (const which of order) samples[name][which].push(await loadCpuMs(files[name][which]));
      }
      if (process.stderr.isTTY) process.stderr.write(`\rround ${round + 1}/${runs}`);
    }
    if (process.stderr.isTTY) process.stderr.write('\n');
    for (const name of names) {
      const ours = median(samples[name].ours);
      const minimal = median(samples[name].minimal);
      rows.push({
        name,
        kib: files[name].oursBytes / 1024,
        minimalKib: files[name].minimalBytes / 1024,
        ours,
        minimal,
        ratio: ours / minimal,
      });
    }
    const header = ['function', 'bundle KiB', 'minimal KiB', 'median ms ours', 'median ms minimal', 'ratio'];
    const cells = rows.map((r) => [
      r.name,
      r.kib.toFixed(0),
      r.minimalKib.toFixed(0),
      r.ours.toFixed(1),
      r.minimal.toFixed(1),
      `${r.ratio.toFixed(2)}x${r.ratio > TARGET_RATIO ? ' (above target)' : ''}`,
    ]);
    if (markdown) {
      console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
      for (const c of cells) console.log(`| ${c.join(' | ')} |`);
    } else {
      const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
      const line = (c: string[]) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
      console.log(line(header));
      for (const c of cells) console.log(line(c));
    }
    console.log(
      `CPU ms of require() in a fresh node ${process.version} process, median of ${runs} alternating runs; target ratio <= ${TARGET_RATIO}x`,
    );
    return !check || rows.every((r) => r.ratio <= TARGET_RATIO) ? 0 : 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 2;
  },
);
