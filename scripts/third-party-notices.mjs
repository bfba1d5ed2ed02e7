// Writes THIRD-PARTY-NOTICES.txt beside a bundle: the name, version, licence and full LICENSE/NOTICE
// text of every npm package with files in it. The bundles ship other people's code (AWS SDK, pg, ...),
// minified, so the licences travel in this file (the few legal comments stay at the bundle's end).
// A package that ships no licence file (some AWS SDK and Powertools packages, pgpass, pg-types) gets its
// README's licence section, if any, and the standard text of the licence its package.json declares, from
// scripts/licenses/<SPDX id>.txt. Shared by bundle-functions.mjs and bundle-cli.mjs.
import fs from 'fs';
import path from 'path';
import { fileURLToPath } from 'url';

const STANDARD_TEXTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'licenses');

// LICENSE, LICENCE.md, NOTICE, COPYING.txt, tslib's CopyrightNotice.txt, ...; not code files.
const LEGAL_FILE = /^(?:.*licen[cs]e.*|.*notice.*|copying.*)$/i;
const TEXT_EXTENSION = /^(?:|\.txt|\.md|\.markdown|\.rst)$/i;

/** The package directory of a path inside node_modules (the innermost package), or undefined. */
function packageDirOf(file) {
  const parts = file.split(/[\\/]/);
  const at = parts.lastIndexOf('node_modules');
  if (at < 0 || at + 1 >= parts.length) return undefined;
  const length = parts[at + 1].startsWith('@') ? at + 3 : at + 2;
  return parts.slice(0, length).join(path.sep);
}

/** Packages whose files esbuild put in the bundle, from its metafile's inputs, sorted by name then version. */
export function bundledPackages(metafile, absWorkingDir) {
  const dirs = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const dir = packageDirOf(input);
    if (dir !== undefined) dirs.add(path.resolve(absWorkingDir, dir));
  }
  const byKey = new Map();
  for (const dir of dirs) {
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const key = `${pkg.name}@${pkg.version}`;
    if (byKey.has(key)) continue; // the same version installed twice
    const legalFiles = fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile() && LEGAL_FILE.test(e.name) && TEXT_EXTENSION.test(path.extname(e.name)))
      .map((e) => e.name)
      .sort();
    const license = licenseOf(pkg);
    const texts = legalFiles.map((name) => ({ name, text: fs.readFileSync(path.join(dir, name), 'utf8').trim() }));
    byKey.set(key, { name: pkg.name, version: pkg.version, license, texts: texts.length > 0 ? texts : fallbackTexts(dir, pkg, license) });
  }
  return [...byKey.values()].sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
}

/** For a package without a licence file: its README's licence section, if any, and the declared licence's standard text. */
function fallbackTexts(dir, pkg, license) {
  const standard = path.join(STANDARD_TEXTS, `${license}.txt`);
  if (!fs.existsSync(standard)) {
    throw new Error(
      `${pkg.name}@${pkg.version} (${dir}) ships no licence file and declares "${license}", which has no standard text in ` +
        `${STANDARD_TEXTS}: add ${license}.txt there (the SPDX licence text), or keep the package out of the bundles`,
    );
  }
  const texts = [];
  const readme = fs.readdirSync(dir).find((f) => /^readme(\.md|\.markdown)?$/i.test(f));
  const section = readme && licenceSection(fs.readFileSync(path.join(dir, readme), 'utf8'));
  if (section) texts.push({ name: `${readme}, licence section`, text: section });
  const author = typeof pkg.author === 'string' ? pkg.author : pkg.author?.name;
  texts.push({
    name: `standard ${license} text (the package ships no licence file${author ? `; author in package.json: ${author}` : ''})`,
    text: fs.readFileSync(standard, 'utf8').trim(),
  });
  return texts;
}

/** A Markdown README's "License" section up to the next heading of the same or a higher level, or undefined. */
function licenceSection(markdown) {
  const lines = markdown.split(/\r?\n/);
  const start = lines.findIndex((l) => /^#{1,6}\s*licen[cs]e\b/i.test(l));
  if (start < 0) return undefined;
  const level = lines[start].match(/^#+/)[0].length;
  const end = lines.findIndex((l, i) => i > start && /^#+/.test(l) && l.match(/^#+/)[0].length <= level);
  const text = lines
    .slice(start + 1, end < 0 ? undefined : end)
    .join('\n')
    .trim();
  return text || undefined;
}

function licenseOf(pkg) {
  if (typeof pkg.license === 'string') return pkg.license;
  if (pkg.license && typeof pkg.license.type === 'string') return pkg.license.type;
  if (Array.isArray(pkg.licenses)) return pkg.licenses.map((l) => l.type ?? String(l)).join(' OR ');
  return 'UNKNOWN';
}

export function renderNotices(bundleName, packages) {
  const rule = '='.repeat(78);
  const out = [
    `Third-party software included in ${bundleName}`,
    `${packages.length} npm packages, listed from the bundler's record of the files it included.`,
    '',
  ];
  for (const p of packages) {
    out.push(rule, `${p.name} ${p.version}`, `License: ${p.license}`, '');
    for (const t of p.texts) out.push(`--- ${t.name} ---`, t.text, '');
  }
  return out.join('\n');
}

/** Writes `<dir>/THIRD-PARTY-NOTICES.txt` atomically; returns how many packages it lists. */
export function writeNotices({ metafile, absWorkingDir, outDir, bundleName }) {
  const packages = bundledPackages(metafile, absWorkingDir);
  const file = path.join(outDir, 'THIRD-PARTY-NOTICES.txt');
  writeAtomically(file, renderNotices(bundleName, packages));
  return packages.length;
}

/** Temp file + rename, so a reader (a test, a running CLI) never sees half a file. */
export function writeAtomically(file, contents, mode = 0o644) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, contents, { mode });
  fs.renameSync(tmp, file);
}
