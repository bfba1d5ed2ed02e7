/**
 * The published declarations do not import aws-cdk-lib's root: its index.d.ts re-exports every module, so one such
 * import makes a consumer's tsc (ts-node at `cdk synth`) load the types of all of aws-cdk-lib. The library imports
 * `aws-cdk-lib/core` and the service modules it uses instead (bench/consumer-synth.ts measures the difference).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';

const LIB = path.join(__dirname, '..', '..', 'lib');
const ROOT_IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]aws-cdk-lib['"]/m;

function libFiles(suffix: '.d.ts' | '.ts'): string[] {
  return fs
    .readdirSync(LIB)
    .filter((f) => f.endsWith(suffix) && (suffix === '.d.ts' || !f.endsWith('.d.ts')))
    .map((f) => path.join(LIB, f));
}

test.each(['.ts', '.d.ts'] as const)('no lib/*%s imports the aws-cdk-lib root', (suffix) => {
  const files = libFiles(suffix);
  if (suffix === '.d.ts' && !files.some((f) => f.endsWith('index.d.ts')))
    throw new Error('lib/index.d.ts is missing: run `npm run compile`');
  expect(files.length).toBeGreaterThan(5);
  expect(files.filter((f) => ROOT_IMPORT.test(fs.readFileSync(f, 'utf8'))).map((f) => path.basename(f))).toEqual([]);
});

test('the pattern catches each form of a root import', () => {
  for (const line of [
    "import { Duration } from 'aws-cdk-lib';",
    'import * as cdk from "aws-cdk-lib";',
    "x: import('aws-cdk-lib').Duration;",
    "import 'aws-cdk-lib';",
  ]) {
    expect(ROOT_IMPORT.test(line)).toBe(true);
  }
  for (const line of ["import { Duration } from 'aws-cdk-lib/core';", "// aws-cdk-lib's integral conversions"])
    expect(ROOT_IMPORT.test(line)).toBe(false);
});

test("a consumer importing the package's declarations loads aws-cdk-lib/core but not aws-cdk-lib's index.d.ts", () => {
  // As installed: node_modules/cdk-dsql-url-secret with its package.json and declarations only, beside the peers.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-consumer-'));
  const installed = path.join(dir, 'node_modules', 'cdk-dsql-url-secret');
  fs.mkdirSync(path.join(installed, 'lib'), { recursive: true });
  fs.copyFileSync(path.join(LIB, '..', 'package.json'), path.join(installed, 'package.json'));
  for (const f of libFiles('.d.ts')) fs.copyFileSync(f, path.join(installed, 'lib', path.basename(f)));
  for (const peer of ['aws-cdk-lib', 'constructs']) {
    fs.symlinkSync(path.join(LIB, '..', 'node_modules', peer), path.join(dir, 'node_modules', peer), 'dir');
  }
  const consumer = path.join(dir, 'app.ts');
  fs.writeFileSync(consumer, "import { DsqlUrlSecret } from 'cdk-dsql-url-secret';\nexport const c = DsqlUrlSecret;\n");
  // Resolution only (no type-check): the files a consumer's tsc would read.
  const program = ts.createProgram([consumer], {
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    target: ts.ScriptTarget.ES2022,
    types: [],
    skipLibCheck: true,
    noEmit: true,
  });
  const loaded = program.getSourceFiles().map((f) => f.fileName.replace(/\\/g, '/'));
  expect(loaded).toContain(`${installed.replace(/\\/g, '/')}/lib/index.d.ts`);
  // The check means something: aws-cdk-lib resolves, through its core module.
  expect(loaded.some((f) => f.endsWith('/node_modules/aws-cdk-lib/core/index.d.ts'))).toBe(true);
  expect(loaded.filter((f) => f.endsWith('/node_modules/aws-cdk-lib/index.d.ts'))).toEqual([]);
}, 60000);
