/**
 * The built function bundles (`npm run bundle`: assets/functions/<name>/index.js, one per function)
 * and private copies of them, so a test file or the demo runs one build of every function even if
 * someone rebuilds assets/ meanwhile.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { FunctionBundle, FunctionBundleName, HANDLER_EXPORT } from '../../lib/contract';

/** Where `npm run bundle` writes the bundles. */
export const FUNCTIONS_DIR = path.join(__dirname, '..', '..', 'assets', 'functions');

/** `<dir>/<name>/index.js`: the file Lambda loads for that function (handler `index.handler`). */
export function functionBundle(name: FunctionBundleName, dir: string = FUNCTIONS_DIR): string {
  return path.join(dir, name, 'index.js');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Copies every function's bundle into a fresh temporary directory laid out like FUNCTIONS_DIR, and
 * checks in a child process that each copy loads and exports HANDLER_EXPORT. Retries while a build is
 * running (a bundle younger than a second, or one that does not load yet).
 */
export async function snapshotFunctionBundles(): Promise<{ dir: string; remove(): void }> {
  const names = Object.values(FunctionBundle);
  let lastError: unknown;
  for (let attempt = 1; attempt <= 20; attempt++) {
    const missing = names.map((n) => functionBundle(n)).filter((f) => !fs.existsSync(f));
    if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: run \`npm run bundle\``);
    if (names.some((n) => Date.now() - fs.statSync(functionBundle(n)).mtimeMs < 1000)) {
      await sleep(500); // being rebuilt right now
      continue;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'function-bundles-'));
    const remove = () => fs.rmSync(dir, { recursive: true, force: true });
    try {
      for (const name of names) {
        fs.mkdirSync(path.join(dir, name));
        fs.copyFileSync(functionBundle(name), functionBundle(name, dir));
      }
      const files = JSON.stringify(names.map((n) => functionBundle(n, dir)));
      const check = `for (const f of ${files}) if (typeof require(f)[${JSON.stringify(HANDLER_EXPORT)}] !== 'function') process.exit(3)`;
      await promisify(execFile)(process.execPath, ['-e', check], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 20_000 });
      return { dir, remove };
    } catch (err) {
      lastError = err;
      remove();
      await sleep(500);
    }
  }
  throw new Error(`could not take a complete copy of the bundles in ${FUNCTIONS_DIR} (run \`npm run bundle\`): ${String(lastError)}`);
}
