import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import { Duration } from 'aws-cdk-lib';

/** What a prop's JSDoc says about its value. */
export interface PropDoc {
  /** The JSDoc text without tags, whitespace collapsed. */
  readonly text: string;
  /** The @default tag as written, if any. */
  readonly defaultText?: string;
  /** Each figure the text states, in order: `at least \`2 x rolloutAllowance + 5 minutes\`` is { relation: 'at least', formula: ... }. */
  readonly figures: { readonly relation: string; readonly formula: string }[];
}

/** The words that introduce a stated figure, written in backticks right after them (or before, for `with the defaults`). */
const RELATION = /(at least|at most|from|to|sooner than|until) `([^`]+)`|`([^`]+)` (with the defaults)/g;

/** Reads the JSDoc of every property of `interfaceName` in the TypeScript source `file` (the source, so no build is needed). */
export function readPropDocs(file: string, interfaceName: string): Map<string, PropDoc> {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const decl = sf.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === interfaceName);
  if (!decl) throw new Error(`interface ${interfaceName} not found in ${path.basename(file)}`);
  const docs = new Map<string, PropDoc>();
  for (const member of decl.members) {
    if (!ts.isPropertySignature(member) || !ts.isIdentifier(member.name)) continue;
    const jsDoc = ts.getJSDocCommentsAndTags(member).filter(ts.isJSDoc).at(-1);
    const text = (ts.getTextOfJSDocComment(jsDoc?.comment) ?? '').replace(/\s+/g, ' ').trim();
    const defaultTag = jsDoc?.tags?.find((t) => t.tagName.text === 'default');
    const defaultText = defaultTag ? ts.getTextOfJSDocComment(defaultTag.comment)?.trim() : undefined;
    const figures = [...text.matchAll(RELATION)].map((m) => ({ relation: m[1] ?? m[4], formula: m[2] ?? m[3] }));
    docs.set(member.name.text, { text, defaultText, figures });
  }
  return docs;
}

const UNIT_SECONDS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86400 };

/**
 * The value of a stated figure: a sum of terms, each `N x name`, `name`, `N unit [N unit ...]` or a bare
 * number. Durations in seconds; names from `vars` (seconds). Anything else throws, so a figure the
 * test cannot read fails it rather than passing unchecked.
 */
export function evaluateFigure(formula: string, vars: Readonly<Record<string, number>>): number {
  return formula
    .split(' + ')
    .map((term) => term.trim())
    .reduce((sum, term) => {
      const scaled = /^(\d+) x (\w+)$/.exec(term);
      if (scaled) return sum + Number(scaled[1]) * variable(scaled[2], vars, formula);
      if (/^[a-zA-Z]\w*$/.test(term) && !(term.replace(/s$/, '') in UNIT_SECONDS)) return sum + variable(term, vars, formula);
      if (/^\d+$/.test(term)) return sum + Number(term);
      const pairs = [...term.matchAll(/(\d+) (second|minute|hour|day)s?(?= |$)/g)];
      if (pairs.length === 0 || pairs.map((p) => p[0]).join(' ') !== term) throw new Error(`cannot read '${term}' in '${formula}'`);
      return sum + pairs.reduce((s, p) => s + Number(p[1]) * UNIT_SECONDS[p[2]], 0);
    }, 0);
}

function variable(name: string, vars: Readonly<Record<string, number>>, formula: string): number {
  if (!(name in vars)) throw new Error(`unknown name '${name}' in '${formula}'`);
  return vars[name];
}

/** Evaluates a @default such as `Duration.hours(4)`, `5` or `{ sslmode: 'require' }` (not the `- prose` kind, which gives undefined). */
export function evaluateDefault(text: string | undefined): unknown {
  if (text === undefined || text.startsWith('-')) return undefined;
  return new Function('Duration', `return (${text});`)(Duration);
}
