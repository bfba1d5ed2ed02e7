/**
 * npm run bench:consumer-synth [-- --rounds 5 --keep]
 *
 * What the construct adds to a consumer's `cdk synth`. In a scratch directory it installs this checkout as a consumer
 * would (the tarball of `npm pack`, unpacked into node_modules; every other package linked from this checkout's
 * node_modules, so nothing is downloaded) and writes four apps like `cdk init app --language typescript`'s, synthesized
 * by `cdk synth` with cdk.json's classic `npx ts-node --prefer-ts-exts bin/app.ts` (ts-node type-checks the app):
 * - the same stack (VPC, ECS cluster, Fargate service, DSQL cluster) without and with a DsqlUrlSecret bound to the
 *   service;
 * - each written twice: importing `aws-cdk-lib`'s root (`import * as cdk from 'aws-cdk-lib'`, the older template) and
 *   importing submodules only (`aws-cdk-lib/core`, `aws-cdk-lib/aws-ecs`, ..., today's template). A root import makes
 *   tsc load every module's types, the construct's own or not.
 * The four synths alternate, in a rotating order, for --rounds rounds; it prints the median wall time and CPU time
 * (user + system of cdk and its children, steadier on a shared machine) of each app and the ratio with / without the
 * construct per import style. Target: at most 1.10x, judged on CPU time (wall time moves by tens of percent from run
 * to run when other processes share the cores).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const TARGET_RATIO = 1.1;
const argv = process.argv.slice(2);
const flag = (name: string) => argv.indexOf(`--${name}`);
const ROUNDS = flag('rounds') >= 0 ? Number(argv[flag('rounds') + 1]) : 5;
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error('--rounds needs a whole number of at least 1');

type Style = 'root' | 'submodules';
interface App {
  readonly style: Style;
  readonly construct: boolean;
  readonly dir: string;
}

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd} (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

/** node_modules of the scratch directory: this checkout's packages linked, this package unpacked from its tarball. */
function install(scratch: string): void {
  const modules = path.join(scratch, 'node_modules');
  fs.mkdirSync(modules);
  for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    fs.symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(modules, entry));
  }
  // --ignore-scripts: `prepare` would rebuild the bundles; the tarball takes the built ones (npm run build first).
  const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], ROOT)) as {
    filename: string;
  }[];
  const target = path.join(modules, 'cdk-dsql-url-secret');
  fs.mkdirSync(target);
  run('tar', ['xzf', path.join(scratch, packed[0].filename), '-C', target, '--strip-components=1'], scratch);
}

/** The stack's source: one import block per style, the same constructs. */
function stackSource(style: Style, construct: boolean): string {
  const imports =
    style === 'root'
      ? ["import * as cdk from 'aws-cdk-lib';", "import { aws_dsql as dsql, aws_ec2 as ec2, aws_ecs as ecs } from 'aws-cdk-lib';"]
      : [
          "import * as cdk from 'aws-cdk-lib/core';",
          "import * as dsql from 'aws-cdk-lib/aws-dsql';",
          "import * as ec2 from 'aws-cdk-lib/aws-ec2';",
          "import * as ecs from 'aws-cdk-lib/aws-ecs';",
        ];
  if (construct) imports.push("import { DatabaseRole, DsqlUrlSecret } from 'cdk-dsql-url-secret';");
  const dbUrl = construct
    ? [
        "    const dbUrl = new DsqlUrlSecret(this, 'DatabaseUrl', {",
        '      cluster,',
        '      databaseRole: DatabaseRole.ADMIN,',
        '      rotationInterval: cdk.Duration.hours(4),',
        '      tokenLifetime: cdk.Duration.hours(8),',
        '    });',
      ]
    : [];
  return [
    ...imports,
    "import { Construct } from 'constructs';",
    '',
    'export class AppStack extends cdk.Stack {',
    '  constructor(scope: Construct, id: string, props?: cdk.StackProps) {',
    '    super(scope, id, props);',
    "    const cluster = new dsql.CfnCluster(this, 'Cluster', {});",
    ...dbUrl,
    "    const vpc = new ec2.Vpc(this, 'Vpc', { maxAzs: 2 });",
    "    const ecsCluster = new ecs.Cluster(this, 'EcsCluster', { vpc });",
    "    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task');",
    "    taskDefinition.addContainer('app', {",
    "      image: ecs.ContainerImage.fromRegistry('my/app'),",
    construct
      ? '      secrets: { DATABASE_URL: dbUrl.ecsSecret() },'
      : "      environment: { DATABASE_HOST: cdk.Fn.join('', [cluster.attrIdentifier, '.dsql.us-east-1.on.aws']) },",
    '    });',
    "    const service = new ecs.FargateService(this, 'Service', {",
    '      cluster: ecsCluster,',
    '      taskDefinition,',
    '      minHealthyPercent: 100,',
    '      circuitBreaker: { rollback: true },',
    '    });',
    construct ? '    dbUrl.redeployOnRotation(service);' : '    void service;',
    '  }',
    '}',
    '',
  ].join('\n');
}

function writeApp(scratch: string, style: Style, construct: boolean): App {
  const dir = path.join(scratch, `${style}-${construct ? 'with' : 'without'}`);
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'lib'));
  fs.symlinkSync(path.join(scratch, 'node_modules'), path.join(dir, 'node_modules'));
  const template = path.join(ROOT, 'node_modules', 'aws-cdk', 'lib', 'init-templates', 'app', 'typescript');
  fs.copyFileSync(path.join(template, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: path.basename(dir), version: '0.1.0', private: true }));
  fs.writeFileSync(path.join(dir, 'cdk.json'), JSON.stringify({ app: 'npx ts-node --prefer-ts-exts bin/app.ts' }));
  fs.writeFileSync(path.join(dir, 'lib', 'app-stack.ts'), stackSource(style, construct));
  const core = style === 'root' ? 'aws-cdk-lib' : 'aws-cdk-lib/core';
  fs.writeFileSync(
    path.join(dir, 'bin', 'app.ts'),
    [
      '#!/usr/bin/env node',
      `import * as cdk from '${core}';`,
      "import { AppStack } from '../lib/app-stack';",
      '',
      'const app = new cdk.App();',
      // A region so the DSQL endpoint and the construct's checks resolve offline, without an account.
      "new AppStack(app, 'AppStack', { env: { region: 'us-east-1' } });",
      '',
    ].join('\n'),
  );
  return { style, construct, dir };
}

/** One `cdk synth`: wall seconds and CPU seconds of cdk and the processes it waited for (bash's `times`). */
function synth(app: App): { wall: number; cpu: number } {
  const cdk = path.join(ROOT, 'node_modules', 'aws-cdk', 'bin', 'cdk');
  fs.rmSync(path.join(app.dir, 'cdk.out'), { recursive: true, force: true });
  const started = process.hrtime.bigint();
  const out = run(
    'bash',
    ['-c', `node ${JSON.stringify(cdk)} synth --quiet --no-notices --no-version-reporting >/dev/null && times`],
    app.dir,
  );
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  // `times` prints the shell's own user/system times, then its children's: "0m1.234s 0m0.567s".
  const children = out.trim().split('\n').pop()!;
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (seconds.length !== 2) throw new Error(`unexpected output of times: ${children}`);
  if (!fs.existsSync(path.join(app.dir, 'cdk.out', 'AppStack.template.json'))) throw new Error(`${app.dir}: synth wrote no template`);
  return { wall, cpu: seconds[0] + seconds[1] };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function main(): void {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'consumer-synth-'));
  try {
    install(scratch);
    const apps = (['root', 'submodules'] as Style[]).flatMap((style) =>
      [false, true].map((construct) => writeApp(scratch, style, construct)),
    );
    // Once each first: ts-node and the template must work before anything is timed (and the disk cache is warm).
    for (const app of apps) synth(app);
    const times = new Map<App, { wall: number[]; cpu: number[] }>(apps.map((a) => [a, { wall: [], cpu: [] }]));
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round so no app always runs right after the same one.
      for (let i = 0; i < apps.length; i++) {
        const app = apps[(i + round) % apps.length];
        const t = synth(app);
        times.get(app)!.wall.push(t.wall);
        times.get(app)!.cpu.push(t.cpu);
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
    console.log(`consumer cdk synth (ts-node type-checking), median of ${ROUNDS} alternating runs, ${os.cpus().length} CPUs`);
    console.log('| imports | without the construct | with it | ratio wall | ratio CPU |');
    console.log('| --- | --- | --- | --- | --- |');
    let worst = 0;
    for (const style of ['root', 'submodules'] as Style[]) {
      const [without, withIt] = [false, true].map((c) => times.get(apps.find((a) => a.style === style && a.construct === c)!)!);
      const wall = median(withIt.wall) / median(without.wall);
      const cpu = median(withIt.cpu) / median(without.cpu);
      worst = Math.max(worst, cpu);
      const fmt = (t: { wall: number[]; cpu: number[] }) => `${median(t.wall).toFixed(2)} s (CPU ${median(t.cpu).toFixed(2)} s)`;
      console.log(
        `| ${style === 'root' ? '`aws-cdk-lib` root' : 'submodules only'} | ${fmt(without)} | ${fmt(withIt)} | ${wall.toFixed(2)}x | ${cpu.toFixed(2)}x |`,
      );
    }
    console.log(`target: at most ${TARGET_RATIO.toFixed(2)}x (CPU): ${worst <= TARGET_RATIO ? 'met' : 'NOT met'}`);
  } finally {
    if (flag('keep') >= 0) console.log(`scratch directory kept: ${scratch}`);
    else fs.rmSync(scratch, { recursive: true, force: true });
  }
}

main();
