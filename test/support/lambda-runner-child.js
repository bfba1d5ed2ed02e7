'use strict';
/*
 * Child side of lambda-runner.ts: one process per invocation, like a cold Lambda sandbox.
 *   argv: <bundle path> <timeout ms> [<export name>, default handler]; stdin: the event as JSON.
 * The outcome goes to fd 3 as one JSON line so it never mixes with the handler's stdout/stderr,
 * which the parent captures verbatim as the invocation's logs.
 */
const fs = require('fs');
const { randomUUID } = require('crypto');

const [bundle, timeoutArg, exportArg] = process.argv.slice(2);
const exportName = exportArg || 'handler';
const deadline = Date.now() + Number(timeoutArg);
// Backstop if the parent died without killing us (it normally kills us at the deadline itself).
setTimeout(() => process.exit(124), Number(timeoutArg) + 2000).unref();

function report(outcome) {
  fs.writeSync(3, JSON.stringify(outcome) + '\n');
  // Lambda freezes the sandbox after the response; open sockets (SDK keep-alive) must not keep us alive.
  process.exit(0);
}

function errorOf(e, fallbackName) {
  if (e instanceof Error) return { name: fallbackName || e.name || 'Error', message: e.message };
  return { name: fallbackName || 'Error', message: typeof e === 'string' ? e : JSON.stringify(e) };
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const event = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');

  let handler;
  try {
    const mod = require(bundle);
    // Own exports only: 'constructor' or 'toString' must not pass for a handler.
    handler = Object.prototype.hasOwnProperty.call(mod, exportName) ? mod[exportName] : undefined;
  } catch (e) {
    // Same error type the Lambda Node.js runtime reports when the module cannot be loaded.
    return report({ ok: false, error: errorOf(e, 'Runtime.ImportModuleError') });
  }
  if (typeof handler !== 'function') {
    return report({
      ok: false,
      error: { name: 'Runtime.HandlerNotFound', message: `${bundle} does not export a function '${exportName}'` },
    });
  }

  const name = process.env.AWS_LAMBDA_FUNCTION_NAME || 'local-function';
  const context = {
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION || 'us-east-1'}:123456789012:function:${name}`,
    memoryLimitInMB: '128',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    const result = await handler(event, context);
    // The Lambda API returns the JSON serialisation; undefined comes back as null.
    report({ ok: true, result: result === undefined ? null : JSON.parse(JSON.stringify(result)) });
  } catch (e) {
    report({ ok: false, error: errorOf(e) });
  }
}

main().catch((e) => report({ ok: false, error: errorOf(e, 'Runtime.InvalidEvent') }));
