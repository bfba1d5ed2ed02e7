#!/usr/bin/env node
// Builds the construct and runs its construct tests against the oldest aws-cdk-lib the peer range allows and the newest 2.x,
// each in a scratch copy of this checkout: `node scripts/test-peer-range.mjs [--skip-installed] [version ...]` (default: the floor
// and latest). --skip-installed leaves out the version this checkout has installed, which `npm test` has just tested (.ci/run).
// The copy links this checkout's node_modules except aws-cdk-lib and what must see the same copy of it (constructs, cdk-nag),
// which are installed for that version; so only aws-cdk-lib is downloaded. Exits non-zero when a build or a test fails.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const devVersion = (name) => JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;

/** The construct tests: the library, the example app, the README's snippets and the cdk-nag checks. */
const TEST_DIRS = ['test/lib', 'test/example', 'test/docs', 'test/nag'].filter((d) => fs.existsSync(path.join(ROOT, d)));
/** cdk-nag 3 is a policy-validation plugin, an API aws-cdk-lib has from 2.257.0 (cdk-nag 3's MIGRATION.md). */
const CDK_NAG_3_FLOOR = '2.257.0';
/** Installed beside aws-cdk-lib, not linked: each resolves aws-cdk-lib (or is resolved by it) from where it lies. */
const WITH_CDK = ['constructs', 'cdk-nag', 'cdk-nag-v3'];
/** Neither copied nor linked: the copy builds its own. */
const SKIP = new Set(['node_modules', '.git', 'dist', 'cdk.out', 'coverage']);

const run = (cmd, args, cwd, extra = {}) => spawnSync(cmd, args, { cwd, stdio: 'inherit', ...extra });
const compare = (a, b) => {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
};

function floorOf(range) {
  const m = /^(?:>=|\^)\s*(\d+\.\d+\.\d+)/.exec(range ?? '');
  if (!m) throw new Error(`peerDependencies.aws-cdk-lib is '${range}': expected '^X.Y.Z' or '>=X.Y.Z <3.0.0'`);
  return m[1];
}

function latest2x() {
  const r = spawnSync('npm', ['view', 'aws-cdk-lib@^2', 'version', '--json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm view aws-cdk-lib failed: ${r.stderr}`);
  const versions = [].concat(JSON.parse(r.stdout));
  return versions.sort(compare).at(-1);
}

/** aws-cdk-lib `version` with constructs and cdk-nag in a directory of their own, shared by every run of that version. */
function installCdk(work, version) {
  const dir = path.join(work, `aws-cdk-lib-${version}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'peer-range', private: true }));
  const specs = [`aws-cdk-lib@${version}`, `constructs@${devVersion('constructs')}`, `cdk-nag@${devVersion('cdk-nag')}`];
  // cdk-nag 3 refuses (as a peer) an aws-cdk-lib older than its floor; its tests are skipped there.
  if (compare(version, CDK_NAG_3_FLOOR) >= 0) specs.push(`cdk-nag-v3@npm:cdk-nag@${devVersion('cdk-nag-v3')}`);
  const r = run('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=error', ...specs], dir);
  if (r.status !== 0) throw new Error(`npm install ${specs.join(' ')} failed`);
  return path.join(dir, 'node_modules');
}

function scratchCopy(work, version, cdkModules) {
  const copy = path.join(work, `checkout-${version}`);
  fs.rmSync(copy, { recursive: true, force: true });
  fs.cpSync(ROOT, copy, { recursive: true, filter: (src) => !(path.dirname(src) === ROOT && SKIP.has(path.basename(src))) });
  const modules = path.join(copy, 'node_modules');
  fs.mkdirSync(modules);
  for (const name of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (name === 'aws-cdk-lib' || WITH_CDK.includes(name)) continue;
    fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(modules, name));
  }
  for (const name of ['aws-cdk-lib', ...WITH_CDK]) {
    if (fs.existsSync(path.join(cdkModules, name))) fs.symlinkSync(path.join(cdkModules, name), path.join(modules, name));
  }
  return copy;
}

function testVersion(work, version) {
  const started = Date.now();
  const result = { version, build: 'not run', tests: 'not run', skipped: [] };
  const copy = scratchCopy(work, version, installCdk(work, version));
  const installed = JSON.parse(fs.readFileSync(path.join(copy, 'node_modules', 'aws-cdk-lib', 'package.json'), 'utf8')).version;
  if (installed !== version) throw new Error(`expected aws-cdk-lib ${version} in the copy, found ${installed}`);
  // The bundles do not depend on aws-cdk-lib; the compile (jsii, then the library's type check) does.
  const build = run('npm', ['run', '-s', 'bundle'], copy).status === 0 && run('npm', ['run', '-s', 'compile'], copy).status === 0;
  result.build = build ? 'ok' : 'FAILED';
  if (build) {
    const ignore = compare(version, CDK_NAG_3_FLOOR) < 0 ? ['cdk-nag-v3'] : [];
    result.skipped = ignore.map((t) => `${t} (needs aws-cdk-lib >= ${CDK_NAG_3_FLOOR})`);
    const args = ['jest', '--ci', ...TEST_DIRS, ...ignore.flatMap((t) => ['--testPathIgnorePatterns', t])];
    result.tests = run('npx', args, copy, { env: { ...process.env, CI: 'true' } }).status === 0 ? 'ok' : 'FAILED';
  }
  result.seconds = Math.round((Date.now() - started) / 1000);
  return result;
}

const args = process.argv.slice(2);
const skipInstalled = args.includes('--skip-installed');
const named = args.filter((a) => a !== '--skip-installed');
const versions = named.length > 0 ? named : [floorOf(pkg.peerDependencies?.['aws-cdk-lib']), latest2x()];
const installed = devVersion('aws-cdk-lib');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'peer-range-'));
const results = [];
for (const version of [...new Set(versions)]) {
  if (skipInstalled && version === installed) {
    console.log(`\n=== aws-cdk-lib ${version}: this checkout's own, tested by npm test ===`);
    continue;
  }
  console.log(`\n=== aws-cdk-lib ${version}: ${TEST_DIRS.join(' ')} ===`);
  try {
    results.push(testVersion(work, version));
  } catch (e) {
    results.push({ version, build: `FAILED (${e.message})`, tests: 'not run', skipped: [], seconds: 0 });
  }
}
console.log('\naws-cdk-lib peer range:');
for (const r of results) {
  const skipped = r.skipped.length > 0 ? `; skipped ${r.skipped.join(', ')}` : '';
  console.log(`  ${r.version.padEnd(9)} build ${r.build}, tests ${r.tests} (${r.seconds} s${skipped})`);
}
if (!process.env.PEER_RANGE_KEEP) fs.rmSync(work, { recursive: true, force: true });
process.exit(results.every((r) => r.build === 'ok' && r.tests === 'ok') ? 0 : 1);
