import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { invokeHandler } from './lambda-runner';

describe('lambda runner', () => {
  let dir: string;
  const write = (name: string, body: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, body);
    return file;
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lambda-runner-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('returns the result, captures stdout and stderr, passes event, env and context', async () => {
    const bundle = write(
      'ok.js',
      `exports.handler = async (event, context) => {
        console.log('hello from stdout', event.n);
        console.error('hello from stderr');
        return { n: event.n * 2, foo: process.env.FOO, envKeys: Object.keys(process.env).sort(),
                 remaining: context.getRemainingTimeInMillis(), requestId: context.awsRequestId };
      };`,
    );
    process.env.AWS_ACCESS_KEY_ID_FOR_RUNNER_TEST = 'must-not-leak';
    try {
      const out = await invokeHandler({ bundle, env: { FOO: 'bar', AWS_REGION: 'us-east-1' }, event: { n: 21 }, timeoutMs: 10_000 });
      expect(out).toMatchObject({ ok: true, result: { n: 42, foo: 'bar' } });
      if (!out.ok) throw new Error('unreachable');
      const result = out.result as { envKeys: string[]; remaining: number; requestId: string };
      // Exactly the given env + PATH + the "no ~/.aws files" defaults: nothing inherited from the parent.
      expect(result.envKeys).toEqual(['AWS_CONFIG_FILE', 'AWS_REGION', 'AWS_SHARED_CREDENTIALS_FILE', 'FOO', 'PATH']);
      expect(result.remaining).toBeGreaterThan(5_000);
      expect(result.remaining).toBeLessThanOrEqual(10_000);
      expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(out.logs).toContain('hello from stdout 21\n');
      expect(out.logs).toContain('hello from stderr\n');
    } finally {
      delete process.env.AWS_ACCESS_KEY_ID_FOR_RUNNER_TEST;
    }
  });

  test('a thrown error comes back with its name and message, logs included', async () => {
    const bundle = write(
      'throws.js',
      `class ThrottlingException extends Error { constructor(m) { super(m); this.name = 'ThrottlingException'; } }
      exports.handler = async () => { console.log('about to fail'); throw new ThrottlingException('Rate exceeded'); };`,
    );
    const out = await invokeHandler({ bundle, env: {}, event: {} });
    expect(out).toEqual({ ok: false, error: { name: 'ThrottlingException', message: 'Rate exceeded' }, logs: 'about to fail\n' });
  });

  test('returns as soon as the handler resolves even if handles stay open; undefined becomes null', async () => {
    const bundle = write('open-handle.js', `exports.handler = async () => { setInterval(() => {}, 1000); };`);
    const started = Date.now();
    const out = await invokeHandler({ bundle, env: {}, event: null, timeoutMs: 10_000 });
    expect(out).toEqual({ ok: true, result: null, logs: '' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test('timeout kills the child: TimeoutError', async () => {
    const bundle = write(
      'hang.js',
      `exports.handler = async () => { console.log('started'); ` +
        `require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'hang.pid'))}, String(process.pid)); await new Promise(() => ` +
        `setInterval(() => {}, 1000)); };`,
    );
    const started = Date.now();
    const out = await invokeHandler({ bundle, env: {}, event: {}, timeoutMs: 1_000 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(out).toEqual({ ok: false, error: { name: 'TimeoutError', message: 'Task timed out after 1.00 seconds' }, logs: 'started\n' });
    const pid = Number(fs.readFileSync(path.join(dir, 'hang.pid'), 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow(); // really gone
  });

  test('load failures and crashes are reported like the Lambda runtime does', async () => {
    const missing = await invokeHandler({ bundle: path.join(dir, 'nope.js'), env: {}, event: {} });
    expect(missing).toMatchObject({
      ok: false,
      error: { name: 'Runtime.ImportModuleError', message: expect.stringContaining('Cannot find module') },
    });

    const noHandler = await invokeHandler({ bundle: write('no-handler.js', 'exports.other = 1;'), env: {}, event: {} });
    expect(noHandler).toMatchObject({ ok: false, error: { name: 'Runtime.HandlerNotFound' } });

    const exits = await invokeHandler({ bundle: write('exit.js', 'exports.handler = async () => process.exit(3);'), env: {}, event: {} });
    expect(exits).toMatchObject({ ok: false, error: { name: 'Runtime.ExitError', message: expect.stringContaining('exit code 3') } });
  });
});
