import * as ts from 'typescript';

/**
 * Runs a whole-module snippet and returns its exports. 'cdk-dsql-url-secret' is this package's sources, and every
 * other import comes from this project's node_modules through the same module registry as the test, so the snippet's
 * aws-cdk-lib classes are the test's (instanceof and Template work on what it builds).
 */
export function loadSnippetModule(code: string): Record<string, unknown> {
  const js = ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  const snippetRequire = (id: string): unknown => (id === 'cdk-dsql-url-secret' ? require('../../lib') : require(id));
  const module = { exports: {} as Record<string, unknown> };
  new Function('exports', 'require', 'module', js.outputText)(module.exports, snippetRequire, module);
  return module.exports;
}
