/**
 * No secret in any log: what the handler prints (CloudWatch Logs on AWS), the errors it throws (shown
 * in the Secrets Manager console and in CloudTrail-driven alerts), and this test process's own output.
 * Every other integration file ends with the same check over its own scenarios; this one first proves
 * that the check finds a leak, then drives the error paths most likely to carry a URL or a token into
 * a message: an unreachable endpoint, AWS errors while the new value is written, a failed redeploy,
 * and a step killed mid-flight.
 */
import { LocalStack } from '../support/local-stack';
import { freePort } from '../support/free-port';
import { RotationFailedError } from '../support/rotation-service';
import { pgSelectOne } from './clients';
import { abandonPending, captureOutput, findLeaks, fingerprint, logRecords, rotateWith, startStack } from './harness';

describe('no token, password or key in logs, errors or test output', () => {
  let stack: LocalStack;
  let output: ReturnType<typeof captureOutput>;
  const errorTexts: string[] = [];

  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({ services: 2 });
    await stack.rotate();
  }, 60_000);

  afterAll(async () => {
    output?.restore();
    await stack?.stop();
  });

  test('the check finds a planted token (raw, percent-encoded, signature), key and marker; and captures output', async () => {
    const token = (await stack.readStage('AWSCURRENT')).password;
    const signature = new URLSearchParams(token.slice(token.indexOf('/?') + 2)).get('X-Amz-Signature')!;
    const planted = {
      raw: `password=${token}`,
      encoded: `url postgres://admin:${encodeURIComponent(token)}@host`,
      signature: `sig ${signature}`,
      key: `key ${stack.signer.secretAccessKey}`,
      marker: 'X-Amz-Signature=abc',
    };
    const { leaks, secretsChecked } = await findLeaks({ stack, texts: planted, secretAccessKeys: [stack.signer.secretAccessKey] });
    const name = `token ${fingerprint(token)}`;
    expect(leaks).toEqual(
      expect.arrayContaining([
        `${name} in raw`,
        `${name} (percent-encoded) in encoded`,
        `${name} signature in signature`,
        `secret access key ${fingerprint(stack.signer.secretAccessKey)} in key`,
        'X-Amz-Signature= marker in marker',
      ]),
    );
    expect(secretsChecked).toBeGreaterThanOrEqual(3 + 1 + 2);

    process.stderr.write('leak-check probe on stderr\n');
    console.warn('leak-check probe on console');
    expect(output.text()).toContain('leak-check probe on stderr');
    expect(output.text()).toContain('leak-check probe on console');
  });

  test('testSecret cannot reach the endpoint (wrong port in the config): the message names host and port, not the URL', async () => {
    const closedPort = await freePort();
    const error = await rotateWith(
      stack,
      ({ step, real }) => real(step === 'createSecret' ? { config: { port: closedPort } } : {}),
      1,
    ).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(RotationFailedError);
    const failed = error as RotationFailedError;
    expect(failed.failures[0].message).toContain(`testSecret: could not reach localhost:${closedPort} as 'admin' (ECONNREFUSED`);
    errorTexts.push(failed.message);
    await abandonPending(stack, failed.token);
  });

  test('AWS errors while writing the value and while redeploying: retried, messages clean', async () => {
    stack.proxy.inject({ operation: 'PutSecretValue', errorType: 'AccessDeniedException', count: 1 });
    stack.proxy.inject({ operation: 'UpdateService', errorType: 'AccessDeniedException', count: 2 });
    const result = await stack.rotate();
    expect(result.failures.map((f) => f.step)).toEqual(['createSecret', 'finishSecret']);
    expect(result.failures[1].message).toContain('2 of 2 services could not be redeployed');
    expect(result.attempts).toBe(3);
    errorTexts.push(...result.failures.map((f) => f.message));
    await expect(pgSelectOne((await stack.readStage('AWSCURRENT')).url, stack.endpoint.caFile)).resolves.toBe(1);
  });

  test('a step killed mid-flight (testSecret, like a Lambda timeout) leaves partial logs that are clean too', async () => {
    const logsAt = stack.handlerLogs.length;
    const result = await rotateWith(stack, async ({ step, attempt, real }) => {
      if (step !== 'testSecret' || attempt !== 1) return real();
      // testSecret's read of the pending value hangs: the child is killed after it logged "step started".
      stack.proxy.inject({ operation: 'GetSecretValue', stall: true, count: 1 });
      return real({ timeoutMs: 2000 });
    });
    expect(result.attempts).toBe(2);
    expect(result.failures).toEqual([{ attempt: 1, step: 'testSecret', message: 'TimeoutError: Task timed out after 2.00 seconds' }]);
    const killed = logRecords(stack.handlerLogs.slice(logsAt + 2, logsAt + 3));
    expect(killed.map((r) => r.message)).toEqual(['step started']);
    errorTexts.push(...result.failures.map((f) => f.message));
  });

  test("nothing secret in any handler log, rotation error or this process's output", async () => {
    const records = logRecords(stack.handlerLogs);
    // The logs are not empty: the check looked at real lines, errors included.
    expect(records.length).toBeGreaterThanOrEqual(20);
    expect(records.some((r) => r.level === 'ERROR')).toBe(true);
    const { leaks, secretsChecked, bytesChecked } = await findLeaks({
      stack,
      texts: { 'test process output': output.text(), 'rotation failure messages': errorTexts.join('\n') },
      secretAccessKeys: [stack.signer.secretAccessKey],
    });
    // At least two distinct tokens (tokens signed in the same second with the same key are identical).
    expect(secretsChecked).toBeGreaterThanOrEqual(2 * 3 + 1 + 2);
    expect(bytesChecked).toBeGreaterThan(5_000);
    expect(leaks).toEqual([]);
  });
});
