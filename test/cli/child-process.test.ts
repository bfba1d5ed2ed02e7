/** exec's command as a real process: the exit codes a shell would give, and a forwarded signal. */
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runChild } from '../../cli/child-process';

describe('real processes: exit codes as a shell gives them', () => {
  const run = (command: string, args: string[] = []) => runChild({ command, args, env: { PATH: process.env.PATH } });

  test('the exit code, 128 + signal, 127 not found, 126 not executable', async () => {
    expect(await run('sh', ['-c', 'exit 7'])).toEqual({ kind: 'exited', code: 7 });
    expect(await run('sh', ['-c', 'kill -TERM $$'])).toEqual({ kind: 'signalled', signal: 'SIGTERM', code: 143 });
    expect(await run('no-such-command-for-exec-test')).toMatchObject({ kind: 'not-started', errno: 'ENOENT', code: 127 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exec-test-'));
    try {
      const script = path.join(dir, 'not-executable.sh');
      fs.writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
      expect(await run(script)).toMatchObject({ kind: 'not-started', errno: 'EACCES', code: 126 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a forwarded SIGTERM reaches the command', async () => {
    const source = new EventEmitter();
    const outcome = runChild({ command: 'sleep', args: ['30'], env: { PATH: process.env.PATH }, signals: source as never });
    await new Promise((r) => setTimeout(r, 200));
    source.emit('SIGTERM');
    expect(await outcome).toEqual({ kind: 'signalled', signal: 'SIGTERM', code: 143 });
  });
});
