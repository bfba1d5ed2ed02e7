import { fleetLines, LineReporter, LiveReporter, liveOutput, ServiceFleetStatus } from '../../cli/render';
import { StatusReport } from '../../cli/status';
import { WatchSnapshot } from '../../cli/watch-report';
import { Capture, NEW_VERSION, OLD_VERSION, T0, TOKEN } from './fixtures';

const snap = (over: Partial<WatchSnapshot> = {}): WatchSnapshot => ({
  secretName: 'app/database-url',
  versionId: NEW_VERSION,
  previousVersion: OLD_VERSION,
  versionState: 'AWSPENDING',
  services: [{ arn: 'arn:aws:ecs:eu-west-1:1:service/main/web', label: 'main/web', state: 'waiting' }],
  elapsedMs: 0,
  timeoutMs: 1_800_000,
  ...over,
});

test('liveOutput: the TTY switch wins over isTTY; TERM=dumb gets lines', () => {
  expect(liveOutput({ write: () => true, isTTY: true }, {})).toBe(true);
  expect(liveOutput({ write: () => true, isTTY: true }, { TERM: 'dumb' })).toBe(false);
  expect(liveOutput({ write: () => true, isTTY: false }, {})).toBe(false);
  expect(liveOutput({ write: () => true }, { CDK_DSQL_URL_SECRET_TTY: '1' })).toBe(true);
  expect(liveOutput({ write: () => true, isTTY: true }, { CDK_DSQL_URL_SECRET_TTY: '0' })).toBe(false);
});

describe('LineReporter', () => {
  test('prints a line only when something changed', () => {
    let now = T0;
    const out = new Capture();
    const r = new LineReporter({ stdout: out, stderr: out, live: false, now: () => now });
    r.update(snap());
    now += 5_000;
    r.update(snap({ elapsedMs: 5_000 }));
    now += 5_000;
    r.update(snap({ elapsedMs: 10_000, versionState: 'AWSCURRENT', expiresAt: new Date(T0 + 8 * 3600_000) }));
    now += 5_000;
    r.update(
      snap({
        elapsedMs: 15_000,
        versionState: 'AWSCURRENT',
        services: [{ arn: 'x', label: 'main/web', state: 'IN_PROGRESS', deploymentId: 'ecs-svc/1', running: 0, desired: 1 }],
      }),
    );
    r.update(
      snap({
        elapsedMs: 15_000,
        versionState: 'AWSCURRENT',
        services: [{ arn: 'x', label: 'main/web', state: 'IN_PROGRESS', deploymentId: 'ecs-svc/1', running: 0, desired: 1 }],
      }),
    );
    expect(out.text.split('\n').filter(Boolean)).toEqual([
      '2030-06-01T12:00:00.000Z version 22222222: AWSPENDING (the rotation function is creating and testing the new URL)',
      '2030-06-01T12:00:10.000Z version 22222222: AWSPENDING → AWSCURRENT (previous version 11111111 is now AWSPREVIOUS)',
      '2030-06-01T12:00:10.000Z version 22222222: token expires 2030-06-01T20:00:00Z (in 7h 59m)',
      '2030-06-01T12:00:10.000Z waiting for the new deployment of 1 bound service',
      '2030-06-01T12:00:15.000Z service main/web: deployment ecs-svc/1 IN_PROGRESS 0/1',
    ]);
  });

  test('redacts what it prints', () => {
    const out = new Capture();
    new LineReporter({ stdout: out, stderr: out, live: false, now: () => T0 }).info(`oops ${TOKEN}`);
    expect(out.text).not.toContain(TOKEN);
  });
});

describe('LiveReporter', () => {
  test('draws a frame, then redraws it in place', () => {
    let now = T0;
    const out = new Capture(true, 80);
    const err = new Capture(true, 80);
    const r = new LiveReporter({ stdout: out, stderr: err, live: true, now: () => now });
    r.update(snap());
    const first = out.text;
    expect(first).toContain('\x1b[?25l'); // cursor hidden while drawing
    expect(first).toContain('Rotating app/database-url   elapsed 0:00 / timeout 30m');
    expect(first).toContain('version 22222222  AWSPENDING …');
    expect(first).toContain('main/web  -           waiting for AWSCURRENT  -');
    now += 3_000;
    const done = snap({
      elapsedMs: 3_000,
      versionState: 'AWSCURRENT',
      expiresAt: new Date(T0 + 8 * 3600_000),
      services: [{ arn: 'x', label: 'main/web', state: 'COMPLETED', deploymentId: 'ecs-svc/1102845487063586807', running: 2, desired: 2 }],
    });
    r.update(done);
    const second = out.text.slice(first.length);
    const lines = first.split('\n').length - 1;
    expect(second.startsWith(`\r\x1b[${lines}A\x1b[J`)).toBe(true); // back up over the previous frame and clear it
    expect(second).toContain('AWSPENDING → AWSCURRENT ✓');
    expect(second).toContain('main/web  ecs-svc/11028454870…  COMPLETED  2/2');
    r.finish({ code: 0, message: 'Done.' }, done);
    expect(out.text.endsWith('\x1b[?25hDone.\n')).toBe(true); // cursor back, summary after the last frame
    for (const line of out.text.split('\n'))
      expect(line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace('\r', '').length).toBeLessThanOrEqual(80);
  });

  test('the elapsed clock moves between polls', () => {
    jest.useFakeTimers();
    try {
      let now = T0;
      const out = new Capture(true);
      const r = new LiveReporter({ stdout: out, stderr: out, live: true, now: () => now });
      r.update(snap());
      now += 2_000;
      jest.advanceTimersByTime(2_000);
      expect(out.text).toContain('elapsed 0:02');
      r.close();
      expect(out.text.endsWith('\x1b[?25h')).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });

  test('failures go to stderr, and narrow terminals get cut lines', () => {
    const out = new Capture(true, 30);
    const err = new Capture(true, 30);
    const r = new LiveReporter({ stdout: out, stderr: err, live: true, now: () => T0 });
    r.update(snap());
    r.finish({ code: 3, message: 'Timed out.' }, undefined);
    expect(err.text).toBe('Timed out.\n');
    expect(out.text).toContain('Rotating app/database-url   e…\n');
  });
});

describe("status's fleet table", () => {
  const fleet = (over: Partial<ServiceFleetStatus>): ServiceFleetStatus => ({
    state: 'surveyed',
    tasks: { current: 0, previous: 0, older: 0 },
    oldestExpiresAt: null,
    oldestState: null,
    error: null,
    ...over,
  });
  const report = (services: Array<[string, ServiceFleetStatus | null]>, oldest: StatusReport['fleet']): StatusReport =>
    ({
      boundServices: {
        parameter: '/p',
        parameterExists: true,
        services: services.map(([name, f]) => ({ arn: `arn:aws:ecs:eu-west-1:1:service/main/${name}`, cluster: 'main', name, fleet: f })),
      },
      fleet: oldest,
    }) as unknown as StatusReport;

  test('counts by token, the oldest expiry per service, and what could not be told; no secret in any line', () => {
    const lines = fleetLines(
      report(
        [
          [
            'web',
            fleet({
              state: 'current',
              tasks: { current: 3, previous: 0, older: 0 },
              oldestExpiresAt: '2030-06-01T13:00:00.000Z',
              oldestState: 'valid',
            }),
          ],
          [
            'api',
            fleet({ tasks: { current: 1, previous: 1, older: 0 }, oldestExpiresAt: '2030-06-01T11:00:00.000Z', oldestState: 'expired' }),
          ],
          ['old', fleet({ tasks: { current: 0, previous: 0, older: 4 }, oldestState: 'unknown' })],
          ['idle', fleet({})],
          ['down', fleet({ state: 'failed', error: `ThrottlingException: Rate exceeded for ${TOKEN}` })],
          ['gone', fleet({ state: 'gone' })],
        ],
        { oldestExpiresAt: null, oldestState: 'unknown', calls: 7 },
      ),
      T0,
    );
    expect(lines.slice(0, 8)).toEqual([
      'Tokens held by running tasks (oldest: unknown (counted as expired)):',
      '  SERVICE    CURRENT  PREVIOUS  OLDER  OLDEST EXPIRY',
      '  main/web   3        0         0      2030-06-01T13:00:00Z (in 1h)',
      '  main/api   1        1         0      EXPIRED 1h ago',
      '  main/old   0        0         4      unknown (counted as expired)',
      '  main/idle  0        0         0      -',
      expect.stringMatching(/^ {2}main\/down {2}\? {8}\? {9}\? {6}could not tell: ThrottlingException: Rate exceeded for /),
      '  main/gone  -        -         -      gone',
    ]);
    expect(lines[8]).toContain('the watchdog redeploys services');
    expect(lines.join('\n')).not.toContain('X-Amz-Signature');
  });

  test('every task on the current token: no note about stale tasks', () => {
    const lines = fleetLines(
      report([['web', fleet({ state: 'current', tasks: { current: 2, previous: 0, older: 0 } })]], {
        oldestExpiresAt: '2030-06-01T19:00:00.000Z',
        oldestState: 'valid',
        calls: 1,
      }),
      T0,
    );
    expect(lines[0]).toBe('Tokens held by running tasks (oldest: 2030-06-01T19:00:00Z (in 7h)):');
    expect(lines).toHaveLength(3);
  });
});
