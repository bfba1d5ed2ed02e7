/**
 * Entry point of the `cdk-dsql-url-secret` command (bin), bundled with every
 * dependency into assets/cli/index.js by scripts/bundle-cli.mjs.
 */
import { main } from './main';

// The bundled SDK warns on every run that its future versions need a newer Node.js: not
// actionable for a CLI whose SDK is frozen in the bundle. Every other warning still shows.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  // The SDK emits it as a plain message: "NodeVersionSupportWarning: The AWS SDK for JavaScript (v3) …".
  const text = typeof warning === 'string' ? warning : `${warning.name}: ${warning.message}`;
  if (text.startsWith('NodeVersionSupportWarning')) return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

const argv = process.argv.slice(2);
const controller = new AbortController();
// Not exec's command line after `--`: exec passes every signal on to its command (cli/child-process.ts).
if ((argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv).includes('--wait')) {
  // rotate --wait: the first Ctrl-C stops watching cleanly (last frame, cursor, a summary);
  // a second one leaves at once. Other commands keep Node's default: exit at once.
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) {
      if (process.stdout.isTTY) process.stdout.write('\x1b[?25h');
      process.exit(130);
    }
    interrupted = true;
    controller.abort();
  });
}

main({
  argv,
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error: unexpected failure: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
