/**
 * What `npm pack` puts in the published package (package.json `files`): the compiled library and its assembly, the
 * bundles the construct deploys and the CLI with their licence notices, LICENSE and the docs; no tests, TypeScript
 * sources or build leftovers. Also the package.json fields a registry and a consumer read.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { FunctionBundle } from '../../lib/contract';

const ROOT = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  main: string;
  types: string;
  bin: Record<string, string>;
  engines?: { node?: string };
  repository: { type: string; url: string };
  homepage?: string;
  bugs?: { url?: string };
};

let files: string[];

beforeAll(() => {
  // --ignore-scripts: `prepare` would rebuild the bundles; this test reads what is built.
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm pack --dry-run failed: ${r.stderr}`);
  files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
}, 60000);

test('LICENSE, README, API.md, the assembly, the entry points and the bin are in the package', () => {
  const cli = Object.values(pkg.bin);
  expect(cli).toHaveLength(1);
  expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'API.md', '.jsii', 'package.json', pkg.main, pkg.types, ...cli]));
  expect(pkg.types).toBe('lib/index.d.ts');
});

test('every compiled library module ships as .js and .d.ts, none as .ts source', () => {
  const sources = fs.readdirSync(path.join(ROOT, 'lib')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  expect(sources.length).toBeGreaterThan(5);
  // A module missing here was added after the last `npm run compile` (jsii), or is left out by `files`.
  const expected = sources.flatMap((source) => ['.js', '.d.ts'].map((ext) => `lib/${source.slice(0, -'.ts'.length)}${ext}`));
  expect(expected.filter((f) => !files.includes(f))).toEqual([]);
});

test('each function bundle and the CLI ship with their THIRD-PARTY-NOTICES.txt', () => {
  const dirs = [...Object.values(FunctionBundle).map((name) => `assets/functions/${name}`), path.posix.dirname(Object.values(pkg.bin)[0])];
  for (const dir of dirs) expect(files).toEqual(expect.arrayContaining([`${dir}/index.js`, `${dir}/THIRD-PARTY-NOTICES.txt`]));
  // Nothing in assets/ but bundles and their notices (no metafiles, temp files or source maps).
  expect(files.filter((f) => f.startsWith('assets/') && !/\/(index\.js|THIRD-PARTY-NOTICES\.txt)$/.test(f))).toEqual([]);
});

test('no tests, TypeScript sources, generated language packages or build state', () => {
  const unwanted = files.filter(
    (f) =>
      /^(test|functions|cli|core|scripts|bench|demo|example|dist|\.tmp|cdk\.out|node_modules)\//.test(f) ||
      (f.endsWith('.ts') && !f.endsWith('.d.ts')) ||
      f.endsWith('.tsbuildinfo') ||
      f.endsWith('.tgz'),
  );
  expect(unwanted).toEqual([]);
});

test('package.json: engines, a normalized repository, homepage and bugs', () => {
  // aws-cdk-lib (a peer) and the AWS SDK v3 in the CLI bundle both require Node.js 20 or later.
  expect(pkg.engines?.node).toBe('>= 20.0.0');
  const cdkEngines = (JSON.parse(fs.readFileSync(require.resolve('aws-cdk-lib/package.json'), 'utf8')) as { engines: { node: string } })
    .engines;
  expect(cdkEngines.node).toMatch(/^>= ?(18|20)\./);
  // The form `npm pkg fix` writes (and npm publish would otherwise correct with a warning).
  expect(pkg.repository).toEqual({ type: 'git', url: expect.stringMatching(/^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/) });
  const web = pkg.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
  expect(pkg.homepage).toBe(`${web}#readme`);
  expect(pkg.bugs?.url).toBe(`${web}/issues`);
});

test('LICENSE is the Apache License 2.0 package.json declares, with the copyright line filled in', () => {
  const text = fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8');
  expect((JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { license: string }).license).toBe('Apache-2.0');
  expect(text).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
  expect(text).toContain('END OF TERMS AND CONDITIONS');
  expect(text).toContain('Copyright 2026 cdk-dsql-url-secret contributors');
  expect(text).not.toContain('[name of copyright owner]');
});
