/**
 * THIRD-PARTY-NOTICES.txt beside each shipped bundle (scripts/third-party-notices.mjs) lists exactly the npm packages
 * esbuild puts in that bundle, each with a licence text. The packages are read here from esbuild's metafile of a fresh
 * build with the bundle scripts' options, so a dependency added to a function or the CLI without rebuilding the
 * notices (`npm run bundle`) fails this test.
 */
import { spawnSync } from 'child_process';
import { build, Metafile } from 'esbuild';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FunctionBundle } from '../../lib/contract';

const ROOT = path.join(__dirname, '..', '..');
const RULE = '='.repeat(78);

/** `name version` -> folder of every package with a file among the metafile's inputs (the innermost node_modules one). */
function packagesOf(metafile: Metafile): Map<string, string> {
  const found = new Map<string, string>();
  for (const input of Object.keys(metafile.inputs)) {
    const parts = input.split(/[\\/]/);
    const at = parts.lastIndexOf('node_modules');
    if (at < 0) continue;
    const dir = path.join(ROOT, ...parts.slice(0, parts[at + 1].startsWith('@') ? at + 3 : at + 2));
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name: string; version: string };
    found.set(`${pkg.name} ${pkg.version}`, dir);
  }
  return found;
}

interface Entry {
  readonly license: string;
  readonly texts: { readonly title: string; readonly text: string }[];
}

/** The notices file's entries by `name version`. */
function parseNotices(file: string): Map<string, Entry> {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`npm run bundle\``);
  const blocks = fs.readFileSync(file, 'utf8').split(`\n${RULE}\n`).slice(1);
  const entries = new Map<string, Entry>();
  for (const block of blocks) {
    const [heading, licenseLine, ...rest] = block.split('\n');
    const texts = rest
      .join('\n')
      .split(/^--- (.+) ---$/m)
      .slice(1)
      .reduce<{ title: string; text: string }[]>(
        (acc, part, i, all) => (i % 2 === 0 ? [...acc, { title: part, text: all[i + 1].trim() }] : acc),
        [],
      );
    entries.set(heading, { license: licenseLine.replace(/^License: /, ''), texts });
  }
  return entries;
}

const functionOptions = JSON.parse(fs.readFileSync(path.join(ROOT, 'scripts', 'function-build-options.json'), 'utf8'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'notices-'));

async function functionMetafile(name: string): Promise<Metafile> {
  const result = await build({
    ...functionOptions,
    entryPoints: [path.join(ROOT, 'functions', 'entry', `${name}.ts`)],
    absWorkingDir: ROOT,
    outfile: path.join(tmp, name, 'index.js'),
    write: false,
  });
  return result.metafile!;
}

function cliMetafile(): Metafile {
  const meta = path.join(tmp, 'cli-meta.json');
  const r = spawnSync(
    'node',
    [path.join(ROOT, 'scripts', 'bundle-cli.mjs'), '--outfile', path.join(tmp, 'cli', 'index.js'), '--metafile', meta],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`bundle-cli.mjs failed: ${r.stderr}`);
  return JSON.parse(fs.readFileSync(meta, 'utf8')) as Metafile;
}

/** A licence text, not a pointer: the permission grant of MIT/ISC/0BSD/MIT-0 or the Apache licence's terms. */
const LICENCE_TEXT = /permission (is hereby granted|to use)|terms and conditions for use, reproduction, and distribution/i;

const BUNDLES = [
  ...Object.values(FunctionBundle).map((name) => ({
    label: `function ${name}`,
    dir: path.join(ROOT, 'assets', 'functions', name),
    meta: () => functionMetafile(name),
  })),
  { label: 'CLI', dir: path.join(ROOT, 'assets', 'cli'), meta: async () => cliMetafile() },
];

describe.each(BUNDLES)('the $label bundle', ({ dir, meta }) => {
  let bundled: Map<string, string>;
  let notices: Map<string, Entry>;
  beforeAll(async () => {
    bundled = packagesOf(await meta());
    notices = parseNotices(path.join(dir, 'THIRD-PARTY-NOTICES.txt'));
  }, 60000);

  test('its notices list exactly the packages in the bundle', () => {
    expect(bundled.size).toBeGreaterThan(0);
    expect([...notices.keys()].sort()).toEqual([...bundled.keys()].sort());
  });

  test('every package has its declared licence and a licence text', () => {
    const lacking = [...notices].filter(([, e]) => !e.texts.some((t) => LICENCE_TEXT.test(t.text))).map(([k]) => k);
    expect(lacking).toEqual([]);
    for (const [key, entry] of notices) {
      const declared = (JSON.parse(fs.readFileSync(path.join(bundled.get(key)!, 'package.json'), 'utf8')) as { license?: unknown }).license;
      if (typeof declared === 'string') expect(`${key}: ${entry.license}`).toBe(`${key}: ${declared}`);
    }
  });

  test('the legal comments of bundled packages stay in the bundle', () => {
    // The AWS SDK's bowser marks its licence with a /*! comment; every bundle with an SDK client carries it.
    const bowser = [...bundled.keys()].some((k) => k.startsWith('bowser '));
    const js = fs.readFileSync(path.join(dir, 'index.js'), 'utf8');
    expect(js.includes('Bundled license information:') && js.includes('MIT License | (c) Dustin Diaz')).toBe(bowser);
  });
});
