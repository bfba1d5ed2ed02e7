// Writes THIRD-PARTY-NOTICES.txt beside a bundle: the name, version, licence and full LICENSE/NOTICE
// text of every npm package with files in it. The bundles ship other people's code (AWS SDK, pg, ...)
// with legal comments stripped, so the licences travel in this file instead.
// Shared by bundle-functions.mjs and bundle-cli.mjs.
import fs from 'fs';
import path from 'path';

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
    byKey.set(key, {
      name: pkg.name,
      version: pkg.version,
      license: licenseOf(pkg),
      texts: legalFiles.map((name) => ({ name, text: fs.readFileSync(path.join(dir, name), 'utf8').trim() })),
    });
  }
  return [...byKey.values()].sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
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
    if (p.texts.length === 0) {
      out.push(`(The package has no licence file; its package.json declares the licence "${p.license}".)`, '');
    }
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
