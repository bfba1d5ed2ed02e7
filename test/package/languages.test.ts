/**
 * The Python, Java, .NET and Go packages jsii-pacmak generates from the compiled assembly (.jsii) with package.json's
 * `jsii.targets` (scripts/package-languages.mjs, `npm run package`). Python's sources are byte-compiled; the others
 * cannot be compiled here: javac needs the jsii runtime and aws-cdk-lib jars from Maven Central, dotnet and go their
 * runtimes from NuGet and the Go module proxy, none reachable from this machine. For them the test checks that every
 * type of the assembly has its source file, declared under the configured package names, and the construct's
 * constructor takes (scope, id, props).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');

interface Assembly {
  readonly name: string;
  readonly targets: Targets;
  readonly types: Record<string, { readonly name: string; readonly kind: string; readonly datatype?: boolean }>;
}
interface Targets {
  readonly python: { readonly distName: string; readonly module: string };
  readonly java: { readonly package: string; readonly maven: { readonly groupId: string; readonly artifactId: string } };
  readonly dotnet: { readonly namespace: string; readonly packageId: string };
  readonly go: { readonly moduleName: string };
}

const JSII_FILE = path.join(ROOT, '.jsii');
if (!fs.existsSync(JSII_FILE)) throw new Error(`${JSII_FILE} is missing: run \`npm run compile\``);
const assembly = JSON.parse(fs.readFileSync(JSII_FILE, 'utf8')) as Assembly;
const types = Object.entries(assembly.types).map(([fqn, t]) => {
  // Submodules would put types in subfolders and namespaces of their own, which the checks below do not model.
  if (fqn !== `${assembly.name}.${t.name}`) throw new Error(`${fqn} is in a submodule: extend this test for submodules`);
  return t;
});
const declared = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { jsii: { targets: Targets } }).jsii.targets;
const MAIN = 'DsqlUrlSecret';

let out: string;
let generation: { status: number | null; output: string };

/** Runs `python3 -m py_compile` over the files; returns its exit status and output. */
function pyCompile(files: string[]): { status: number | null; output: string } {
  const r = spawnSync('python3', ['-m', 'py_compile', ...files], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function filesUnder(dir: string, ext: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(ext))
    .map((f) => path.join(dir, f));
}

function read(...parts: string[]): string {
  const file = path.join(out, ...parts);
  if (!fs.existsSync(file)) throw new Error(`pacmak generated no ${path.relative(out, file)}`);
  return fs.readFileSync(file, 'utf8');
}

beforeAll(() => {
  // A package directory of its own with the assembly (not this checkout): pacmak's `npm pack` then neither reads the
  // bundles other builds may be rewriting nor packs megabytes this test does not look at.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pacmak-'));
  const moduleDir = path.join(tmp, 'module');
  fs.mkdirSync(moduleDir);
  for (const f of ['package.json', '.jsii', 'README.md']) fs.copyFileSync(path.join(ROOT, f), path.join(moduleDir, f));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(moduleDir, 'node_modules'), 'dir');
  out = path.join(tmp, 'dist');
  const r = spawnSync('node', [path.join(ROOT, 'scripts', 'package-languages.mjs'), '--module', moduleDir, '--outdir', out], {
    encoding: 'utf8',
  });
  generation = { status: r.status, output: `${r.stdout}${r.stderr}`.slice(-4000) };
}, 120000);

test('the assembly carries the four targets package.json declares', () => {
  expect(Object.keys(declared).sort()).toEqual(['dotnet', 'go', 'java', 'python']);
  expect(assembly.targets).toEqual(expect.objectContaining(declared));
  expect(types.map((t) => t.name)).toContain(MAIN);
});

test('jsii-pacmak generates every target', () => {
  if (generation.status !== 0) throw new Error(`package-languages.mjs exited ${generation.status}:\n${generation.output}`);
  expect(fs.readdirSync(out).sort()).toEqual(['dotnet', 'go', 'java', 'js', 'python']);
});

describe('Python', () => {
  test('every generated .py file byte-compiles', () => {
    const files = filesUnder(path.join(out, 'python'), '.py');
    expect(files.map((f) => path.basename(f))).toEqual(expect.arrayContaining(['setup.py', '__init__.py']));
    const r = pyCompile(files);
    if (r.status !== 0) throw new Error(`py_compile failed:\n${r.output}`);
  });

  test('the compile check fails on a syntax error', () => {
    const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pybad-')), 'bad.py');
    fs.writeFileSync(bad, 'class DsqlUrlSecret(\n');
    expect(pyCompile([bad]).status).not.toBe(0);
  });

  test('distribution and module names; a class for every type; the construct takes (scope, id, *, props)', () => {
    expect(read('python', 'setup.py')).toContain(`"name": "${declared.python.distName}"`);
    const init = read('python', 'src', declared.python.module, '__init__.py');
    for (const t of types) expect(init).toMatch(new RegExp(`^class ${t.name}\\b`, 'm'));
    expect(init).toMatch(/class DsqlUrlSecret\([\s\S]*?def __init__\(\s*self,\s*scope: "?[\w.]+\.Construct"?,\s*id: builtins\.str,\s*\*,/);
  });
});

describe('Java (sources only: no jsii runtime jars offline)', () => {
  test('Maven coordinates, package, a file per type declaring it', () => {
    const pom = read('java', 'pom.xml');
    expect(pom).toContain(`<groupId>${declared.java.maven.groupId}</groupId>`);
    expect(pom).toContain(`<artifactId>${declared.java.maven.artifactId}</artifactId>`);
    const dir = ['java', 'src', 'main', 'java', ...declared.java.package.split('.')];
    for (const t of types) {
      const src = read(...dir, `${t.name}.java`);
      expect(src).toContain(`package ${declared.java.package};`);
      expect(src).toMatch(new RegExp(`public (class|interface|enum) ${t.name}\\b`));
    }
    expect(read(...dir, `${MAIN}.java`)).toMatch(
      /public DsqlUrlSecret\([^)]*Construct scope, [^)]*String id, [^)]*DsqlUrlSecretProps props\)/,
    );
  });
});

describe('.NET (sources only: no dotnet SDK or NuGet offline)', () => {
  test('package id, namespace, a file per type (and an interface per struct)', () => {
    const { namespace, packageId } = declared.dotnet;
    expect(read('dotnet', packageId, `${packageId}.csproj`)).toContain(`<PackageId>${packageId}</PackageId>`);
    const dir = ['dotnet', packageId, ...namespace.split('.')];
    for (const t of types) {
      const src = read(...dir, `${t.name}.cs`);
      expect(src).toContain(`namespace ${namespace}`);
      expect(src).toMatch(new RegExp(`public (class|interface|enum) ${t.name}\\b`));
      if (t.datatype) expect(read(...dir, `I${t.name}.cs`)).toMatch(new RegExp(`public interface I${t.name}\\b`));
    }
    expect(read(...dir, `${MAIN}.cs`)).toMatch(
      /public DsqlUrlSecret\(Constructs\.Construct scope, string id, [\w.]+\.IDsqlUrlSecretProps props\)/,
    );
  });
});

describe('Go (sources only: no Go toolchain, module proxy unreachable)', () => {
  test('module path, a file per type declaring it, the NewDsqlUrlSecret constructor', () => {
    // Pacmak puts the package in a folder named after the assembly, lower case, letters and digits only.
    const pkg = assembly.name.replace(/[^a-z0-9]/gi, '').toLowerCase();
    expect(read('go', pkg, 'go.mod')).toMatch(new RegExp(`^module ${declared.go.moduleName}/${pkg}$`, 'm'));
    for (const t of types) {
      const src = read('go', pkg, `${t.name}.go`);
      expect(src).toMatch(new RegExp(`^package ${pkg}$`, 'm'));
      expect(src).toMatch(new RegExp(`^type ${t.name} (struct|interface|string)\\b`, 'm'));
    }
    expect(read('go', pkg, `${MAIN}.go`)).toMatch(
      /^func NewDsqlUrlSecret\(scope constructs\.Construct, id \*string, props \*DsqlUrlSecretProps\) DsqlUrlSecret \{/m,
    );
  });
});
