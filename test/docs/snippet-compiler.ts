import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

/** A TypeScript snippet to type-check, and where it comes from (for the messages). */
export interface Snippet {
  readonly id: string;
  readonly code: string;
  /** The document and the line of the snippet's first line in it. */
  readonly source: string;
  readonly line: number;
  /** Declare PRELUDE's names before a fragment; off for a snippet that must be self-contained. */
  readonly prelude: boolean;
}

export const ROOT = path.resolve(__dirname, '..', '..');
/** The built package, as a consumer's compiler sees it (`npm run compile` writes it). */
export const PACKAGE_TYPES = path.join(ROOT, 'lib', 'index.d.ts');

/**
 * The names README fragments use without declaring them (its "Snippets assume" line lists them): what an
 * app around the fragment would already have. Written as import types, so no import can clash with a snippet's own.
 */
export const PRELUDE: Readonly<Record<string, string>> = {
  cluster: "import('aws-cdk-lib/aws-dsql').CfnCluster",
  vpc: "import('aws-cdk-lib/aws-ec2').Vpc",
  ecsCluster: "import('aws-cdk-lib/aws-ecs').Cluster",
  service: "import('aws-cdk-lib/aws-ecs').FargateService",
  dbUrl: "import('cdk-dsql-url-secret').DsqlUrlSecret",
};

const SCAFFOLD_IMPORTS =
  "import { Stack as __SnippetStack } from 'aws-cdk-lib/core'; import { Construct as __SnippetScope } from 'constructs';";
const SCAFFOLD_OPEN = 'export class __Snippet extends __SnippetStack { constructor(scope: __SnippetScope, id: string) { super(scope, id);';
const SCAFFOLD_CLOSE = '} }';

const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.CommonJS,
  moduleResolution: ts.ModuleResolutionKind.Node10,
  lib: ['lib.es2022.d.ts'],
  types: ['node'],
  strict: true,
  esModuleInterop: true,
  skipLibCheck: true,
  noEmit: true,
  baseUrl: ROOT,
  paths: { 'cdk-dsql-url-secret': [path.relative(ROOT, PACKAGE_TYPES)] },
};

interface Generated {
  readonly text: string;
  /** For each generated line, the snippet's own line (0-based), or undefined for scaffold lines. */
  readonly lines: (number | undefined)[];
}

/** A snippet that exports something is a whole module; anything else is a fragment of a Stack's constructor body. */
export function isModule(code: string): boolean {
  const sf = ts.createSourceFile('snippet.ts', code, ts.ScriptTarget.ES2022);
  return sf.statements.some((s) => ts.canHaveModifiers(s) && ts.getModifiers(s)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword));
}

/**
 * A fragment's leading imports stay at module level; the rest becomes the body of a Stack subclass's
 * constructor, so `this` is a Stack. PRELUDE's names are declared at module level: a fragment's own
 * declaration of the same name shadows them.
 */
export function generate(snippet: Snippet): Generated {
  const own = snippet.code.split('\n');
  if (isModule(snippet.code)) return { text: snippet.code, lines: own.map((_, i) => i) };
  const sf = ts.createSourceFile('snippet.ts', snippet.code, ts.ScriptTarget.ES2022);
  const firstBody = sf.statements.findIndex((s) => !ts.isImportDeclaration(s));
  const imports = firstBody === -1 ? sf.statements : sf.statements.slice(0, firstBody);
  const bodyStart = imports.length === 0 ? 0 : sf.getLineAndCharacterOfPosition(imports[imports.length - 1].end).line + 1;
  const prelude = snippet.prelude ? Object.entries(PRELUDE).map(([name, type]) => `declare const ${name}: ${type};`) : [];
  const out: [string, number | undefined][] = [
    [SCAFFOLD_IMPORTS, undefined],
    ...prelude.map((p): [string, undefined] => [p, undefined]),
    ...own.slice(0, bodyStart).map((l, i): [string, number] => [l, i]),
    [SCAFFOLD_OPEN, undefined],
    ...own.slice(bodyStart).map((l, i): [string, number] => [l, bodyStart + i]),
    [SCAFFOLD_CLOSE, undefined],
  ];
  return { text: out.map(([l]) => l).join('\n'), lines: out.map(([, n]) => n) };
}

/**
 * Type-checks all snippets in one ts.Program (aws-cdk-lib's declarations are read once) against the
 * built package. Returns the errors of each snippet by id, as `<source>:<line>: <message>`; [] when it compiles.
 */
export function compileSnippets(snippets: readonly Snippet[]): Map<string, string[]> {
  if (!fs.existsSync(PACKAGE_TYPES)) throw new Error(`${PACKAGE_TYPES} is missing: run npm run compile first`);
  const dir = path.join(ROOT, '.snippets');
  const files = new Map(snippets.map((s) => [path.join(dir, `${s.id}.ts`), { snippet: s, generated: generate(s) }]));
  const host = ts.createCompilerHost(OPTIONS);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => files.has(path.resolve(f)) || fileExists.call(host, f);
  host.readFile = (f) => files.get(path.resolve(f))?.generated.text ?? readFile.call(host, f);
  host.getSourceFile = (f, language, ...rest) => {
    const file = files.get(path.resolve(f));
    return file ? ts.createSourceFile(f, file.generated.text, language) : getSourceFile.call(host, f, language, ...rest);
  };
  const program = ts.createProgram({ rootNames: [...files.keys()], options: OPTIONS, host });
  const global = program.getOptionsDiagnostics().map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  if (global.length > 0) throw new Error(`the snippet compiler's options are wrong: ${global.join('; ')}`);
  const result = new Map<string, string[]>();
  for (const [fileName, { snippet, generated }] of files) {
    const sf = program.getSourceFile(fileName)!;
    const diagnostics = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    result.set(
      snippet.id,
      diagnostics.map((d) => {
        const generatedLine = d.start === undefined ? undefined : sf.getLineAndCharacterOfPosition(d.start).line;
        const line = snippet.line + ((generatedLine === undefined ? undefined : generated.lines[generatedLine]) ?? 0);
        return `${snippet.source}:${line}: TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
      }),
    );
  }
  return result;
}

/** Sources in lib/ newer than their built declarations: a snippet that uses something new needs `npm run compile` first. */
export function staleDeclarations(): string[] {
  const lib = path.join(ROOT, 'lib');
  return fs
    .readdirSync(lib)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .filter((f) => {
      const built = path.join(lib, f.replace(/\.ts$/, '.d.ts'));
      return !fs.existsSync(built) || fs.statSync(built).mtimeMs < fs.statSync(path.join(lib, f)).mtimeMs;
    })
    .map((f) => `lib/${f}`);
}

/** Where a module specifier resolves in the snippets' program (for the test that the package types are the built ones). */
export function resolveFromSnippet(specifier: string): string | undefined {
  const from = path.join(ROOT, '.snippets', 'probe.ts');
  return ts.resolveModuleName(specifier, from, OPTIONS, ts.sys).resolvedModule?.resolvedFileName;
}
