// Bundles the CLI with every dependency (AWS SDK included) into assets/cli/index.js, the package's
// `bin`: consumers of the package do not have its devDependencies.
// `--outfile <path>` writes elsewhere (tests); `--metafile <path>` also writes esbuild's record of the files it
// bundled (test/package/notices.test.ts checks THIRD-PARTY-NOTICES.txt against it). The file is written atomically (temp file + rename),
// so a CLI started while it is rebuilt never loads half a file. THIRD-PARTY-NOTICES.txt beside it lists
// the licences of the packages inside it.
import { build } from 'esbuild';
import { fileURLToPath } from 'url';
import fs from 'fs';
import path from 'path';
import { writeAtomically, writeNotices } from './third-party-notices.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const flag = process.argv.indexOf('--outfile');
const outfile = path.resolve(flag >= 0 ? process.argv[flag + 1] : path.join(root, 'assets', 'cli', 'index.js'));
const metaFlag = process.argv.indexOf('--metafile');
const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

const result = await build({
  entryPoints: [path.join(root, 'cli', 'index.ts')],
  bundle: true,
  write: false,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  banner: { js: '#!/usr/bin/env node' },
  define: { __CLI_VERSION__: JSON.stringify(version) },
  // The few legal comments the packages mark (/*! ... */) stay at the end; THIRD-PARTY-NOTICES.txt has the full texts.
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
  absWorkingDir: root,
  outfile,
});
const { contents } = result.outputFiles[0];
writeAtomically(outfile, contents, 0o755);
if (metaFlag >= 0) writeAtomically(path.resolve(process.argv[metaFlag + 1]), JSON.stringify(result.metafile));
const packages = writeNotices({
  metafile: result.metafile,
  absWorkingDir: root,
  outDir: path.dirname(outfile),
  bundleName: 'the cdk-dsql-url-secret CLI (index.js)',
});
console.log(
  `bundled CLI: ${path.relative(root, outfile) || outfile} (${(contents.length / 1024).toFixed(0)} KiB, ${packages} npm packages)`,
);
