// Generates the Python, Java, .NET and Go packages (jsii-pacmak) from the compiled assembly (.jsii, `npm run compile`)
// into dist/<language>/ (`npm run package`).
//
// --code-only: building the wheel, jar, .nupkg and Go module would make pip, Maven and dotnet fetch the jsii runtimes and
// aws-cdk-lib's bindings from PyPI, Maven Central and NuGet, which this project's machines and CI cannot reach (only the
// npm registry). Code-only writes the sources each language's build tool packages; a publishing pipeline with those
// registries runs pacmak without it. test/package/languages.test.ts compiles the Python sources and checks the others.
//
// Options: --outdir <dir> (default dist), --targets python,java,dotnet,go (default: every target in package.json),
// --module <dir>: the package to generate from (default this checkout; it needs .jsii and package.json).
import { spawnSync } from 'child_process';
import { fileURLToPath } from 'url';
import fs from 'fs';
import path from 'path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = process.argv[at + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
  return value;
}

const moduleDir = path.resolve(option('module', root));
const outdir = path.resolve(option('outdir', path.join(root, 'dist')));
const targets = option('targets', undefined);
if (!fs.existsSync(path.join(moduleDir, '.jsii'))) {
  throw new Error(`${path.join(moduleDir, '.jsii')} is missing: run \`npm run compile\` (jsii) first`);
}

const args = [
  '--code-only',
  // The fingerprint would skip generation when outdir holds output of the same assembly: always generate.
  '--no-fingerprint',
  // Pacmak would otherwise add outdir to an .npmignore; package.json's `files` already decides what npm ships.
  '--no-npmignore',
  '--outdir',
  outdir,
  ...(targets ? ['--targets', ...targets.split(',')] : []),
  moduleDir,
];
const result = spawnSync(path.join(root, 'node_modules', '.bin', 'jsii-pacmak'), args, {
  cwd: moduleDir,
  stdio: 'inherit',
  // Pacmak runs `npm pack` to embed the npm tarball in each language's package. Without scripts: `prepare` would
  // rebuild the function bundles (run `npm run build` first so the tarball holds current ones).
  env: { ...process.env, npm_config_ignore_scripts: 'true' },
});
if (result.error) throw result.error;
if (result.status !== 0) {
  console.error(`jsii-pacmak failed (exit ${result.status})`);
  process.exit(result.status ?? 1);
}
console.log(`generated ${targets ?? 'every jsii target'} into ${path.relative(process.cwd(), outdir) || outdir}`);
