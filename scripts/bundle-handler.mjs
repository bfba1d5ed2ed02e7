// Bundles the rotation handler with every dependency (AWS SDK included) into
// assets/functions/index.js, so consumers need neither esbuild nor Docker.
import { build } from 'esbuild';
import { fileURLToPath } from 'url';
import path from 'path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const outfile = path.join(root, 'assets', 'functions', 'index.js');
const result = await build({
  entryPoints: [path.join(root, 'functions', 'index.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  // pg loads pg-native only when asked to; it is not used.
  external: ['pg-native'],
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs)[0].bytes;
console.log(`bundled rotation handler: ${path.relative(root, outfile)} (${(bytes / 1024).toFixed(0)} KiB)`);
