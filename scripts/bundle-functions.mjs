// Bundles each Lambda function on its own, from functions/entry/<name>.ts into
// assets/functions/<name>/index.js (the asset the construct deploys for that function), with every
// dependency it imports and nothing else: a function that never calls ECS does not load the ECS client
// at cold start. Consumers need neither esbuild nor Docker. Beside each bundle goes
// THIRD-PARTY-NOTICES.txt (licences of the packages inside it).
// The esbuild options live in function-build-options.json, shared with bench/cold-init.ts.
import { build } from 'esbuild';
import { fileURLToPath } from 'url';
import fs from 'fs';
import path from 'path';
import { writeAtomically, writeNotices } from './third-party-notices.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const options = JSON.parse(fs.readFileSync(path.join(root, 'scripts', 'function-build-options.json'), 'utf8'));
// The names are FunctionBundle in lib/contract.ts; the entries must exist for each.
const FUNCTIONS = ['rotation', 'watchdog', 'initial-rotation', 'role-bootstrap'];
// Packages only some bundles may carry, and must: each one loads at every cold start of a function that carries it.
// The CodeDeploy client starts deployments of CODE_DEPLOY services after a rotation and in the watchdog's heal
// (functions/codedeploy-redeploy.ts). The Lambda client writes the bound functions' variable after a rotation
// and in the watchdog's function check (functions/function-env-update.ts).
const ONLY_IN = { '@aws-sdk/client-codedeploy': ['rotation', 'watchdog'], '@aws-sdk/client-lambda': ['rotation', 'watchdog'] };

/** Throws when a bundle carries a package of ONLY_IN it should not, or lacks one it needs. */
function checkPackages(name, metafile) {
  for (const [pkg, bundles] of Object.entries(ONLY_IN)) {
    const inside = Object.keys(metafile.inputs).some((input) => input.includes(`node_modules/${pkg}/`));
    if (inside !== bundles.includes(name)) {
      throw new Error(
        `the ${name} function's bundle ${inside ? 'carries' : 'lacks'} ${pkg}, which belongs in ${bundles.join(', ')} only: ` +
          `${inside ? 'import it there only' : 'is its import still reached from functions/entry/' + name + '.ts?'} ` +
          '(or change ONLY_IN in scripts/bundle-functions.mjs)',
      );
    }
  }
}

for (const name of FUNCTIONS) {
  const outDir = path.join(root, 'assets', 'functions', name);
  const outfile = path.join(outDir, 'index.js');
  const result = await build({
    ...options,
    entryPoints: [path.join(root, 'functions', 'entry', `${name}.ts`)],
    absWorkingDir: root,
    outfile,
    // Written below in one rename: a test or the demo copying the bundle never reads half a file.
    write: false,
  });
  checkPackages(name, result.metafile);
  const { contents } = result.outputFiles[0];
  writeAtomically(outfile, contents);
  const packages = writeNotices({ metafile: result.metafile, absWorkingDir: root, outDir, bundleName: `the ${name} function (index.js)` });
  console.log(
    `bundled ${name} function: ${path.relative(root, outfile)} (${(contents.length / 1024).toFixed(0)} KiB, ${packages} npm packages)`,
  );
}
