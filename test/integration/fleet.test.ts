/**
 * The watchdog's fleet check end to end: the shipped rotation and watchdog bundles, each in a child process
 * as Lambda runs them, against moto behind the fault proxy with the task simulator running the bound
 * services' tasks (moto runs none). Three services; the rotations' tokens are real, their promotions are
 * recorded by finishSecret in the promotion history tag that the watchdog reads.
 *
 * 1. After a rotation every service rolls out: the watchdog sees no stale task, and FleetTokenSecondsLeft
 *    is AWSCURRENT's seconds left.
 * 2. A service whose rollout is stuck after the next rotation: before rolloutAllowance no heal; once it
 *    passed, exactly one more UpdateService for it (counted at the proxy) and a heal line; the run after
 *    heals nothing and says it is still stale. FleetTokenSecondsLeft is then the previous token's (the one
 *    its old task holds), below the threshold the construct gives fleetTokenAlarm: alarmed.
 * 3. Released, the service rolls out: no stale task, FleetTokenSecondsLeft back up to AWSCURRENT's.
 * Then no token, signature or key in any log, result or this process's output.
 */
import { Duration } from 'aws-cdk-lib';
import type { WatchdogResult } from '../../functions/watchdog';
import { MetricName, WatchdogFunctionConfig } from '../../lib/contract';
import { fleetTokenAlarmThresholdSeconds } from '../../lib/watchdog';
import { functionConfigEnv, LocalStack } from '../support/local-stack';
import { captureOutput, findLeaks, logRecords, rotateWith, sleep, startStack, UpdateServiceRecorder } from './harness';

/** Small, so that waiting it out fits in a test; long enough that the run right after a rotation falls within it. */
const ROLLOUT_ALLOWANCE_SECONDS = 15;
/** The construct's default watchdogInterval: with the allowance, what fleetTokenAlarm's threshold is made of. */
const WATCHDOG_INTERVAL = Duration.minutes(5);
const ALARM_THRESHOLD_SECONDS = fleetTokenAlarmThresholdSeconds(Duration.seconds(ROLLOUT_ALLOWANCE_SECONDS), WATCHDOG_INTERVAL);
/** The first token lives shorter than the threshold: tasks still holding it once it is AWSPREVIOUS are alarming. */
const SHORT_LIFETIME_SECONDS = ALARM_THRESHOLD_SECONDS - 30;
const LIFETIME_SECONDS = 8 * 3600;
const DIMENSION = 'fleet-e2e';
/** Polls of the simulated rollouts end here (real time, a loaded machine included). */
const ROLLOUT_DEADLINE_MS = 20_000;

interface WatchdogRun {
  readonly result: WatchdogResult;
  /** The fleet check's EMF document for the secret (no Service dimension). */
  readonly fleetMetrics: Record<string, number>;
  /** `LEVEL message` and fields of each 'fleet check:' line. */
  readonly lines: Array<Record<string, unknown>>;
  /** UpdateService calls that reached moto during the run, by service ARN. */
  readonly updates: Record<string, number>;
  readonly startedAt: number;
  readonly endedAt: number;
}

describe('the fleet check against running tasks (3 services, task simulator)', () => {
  let stack: LocalStack;
  let recorder: UpdateServiceRecorder;
  let output: ReturnType<typeof captureOutput>;
  const texts: string[] = [];
  let stuck: string;

  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({ services: 3, tokenLifetimeSeconds: LIFETIME_SECONDS, taskSimulator: { startDelayMs: 30, drainMs: 30 } });
    recorder = new UpdateServiceRecorder(stack);
    stuck = stack.serviceArns[1];
  }, 60_000);

  afterAll(async () => {
    output?.restore();
    await stack?.stop();
  });

  /** One scheduled run of the watchdog bundle with the configuration the construct writes (lib/watchdog.ts). */
  async function runWatchdog(): Promise<WatchdogRun> {
    const config = {
      secretArn: stack.secretArn,
      // AWSCURRENT always has more than this left here: the watchdog never calls RotateSecret (moto's would break the secret).
      rotateBeforeExpirySeconds: 60,
      stalePendingSeconds: 900,
      metricDimension: DIMENSION,
      connectTimeoutSeconds: 5,
      boundServicesParameter: stack.parameterName,
      boundServicesParameterCount: 1,
      boundServicesFingerprint: 'fleet-e2e',
      boundFunctionsParameter: stack.functionsParameterName,
      boundFunctionsParameterCount: 1,
      rolloutAllowanceSeconds: ROLLOUT_ALLOWANCE_SECONDS,
      redeployConcurrency: 5,
    } satisfies WatchdogFunctionConfig;
    recorder.reset();
    const startedAt = Date.now();
    const out = await stack.invokeFunction(
      'watchdog',
      { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} },
      { awsOnly: true, timeoutMs: 60_000, env: functionConfigEnv(config) },
    );
    const endedAt = Date.now();
    if (!out.ok) throw new Error(`watchdog failed: ${out.error.name}: ${out.error.message}`);
    texts.push(JSON.stringify(out.result));
    const records = logRecords([out.logs]);
    const docs = records.filter((r) => r._aws !== undefined && MetricName.STALE_TASKS in r && r.Service === undefined);
    expect(docs).toHaveLength(1);
    const result = out.result as WatchdogResult;
    // The token check decided nothing: no rotation, the URL authenticates.
    expect(result).toMatchObject({ action: 'none', connected: true, rotationStarted: false });
    return {
      result,
      fleetMetrics: docs[0] as Record<string, number>,
      lines: records.filter((r) => String(r.message).startsWith('fleet check:')),
      updates: recorder.snapshot(),
      startedAt,
      endedAt,
    };
  }

  /** AWSCURRENT's or AWSPREVIOUS's expiresAt, ms. */
  const expiresAt = async (stage: 'AWSCURRENT' | 'AWSPREVIOUS') => Date.parse((await stack.readStage(stage)).expiresAt);

  /** Seconds left of a token expiring at `expires`, at some moment of the run: the bounds FleetTokenSecondsLeft must lie in. */
  const secondsLeftDuring = (run: WatchdogRun, expires: number) => ({
    min: Math.floor((expires - run.endedAt) / 1000) - 1,
    max: Math.ceil((expires - run.startedAt) / 1000) + 1,
  });

  function expectSecondsLeft(run: WatchdogRun, expires: number): void {
    const { min, max } = secondsLeftDuring(run, expires);
    const seen = run.fleetMetrics[MetricName.FLEET_TOKEN_SECONDS_LEFT];
    expect(seen).toBeGreaterThanOrEqual(min);
    expect(seen).toBeLessThanOrEqual(max);
    expect(run.result.fleet.secondsLeft).toBe(seen);
  }

  /** Waits until every running (desired RUNNING) task of each service started after `since`. */
  async function rolledOut(serviceArns: string[], since: number): Promise<void> {
    const deadline = Date.now() + ROLLOUT_DEADLINE_MS;
    const old = () =>
      serviceArns.filter((arn) =>
        stack.tasks!.tasks(arn).some((t) => t.desiredStatus === 'RUNNING' && (t.lastStatus !== 'RUNNING' || t.createdAt.getTime() < since)),
      );
    while (old().length > 0) {
      if (Date.now() > deadline) throw new Error(`rollout not done after ${ROLLOUT_DEADLINE_MS} ms: ${old().join(', ')}`);
      await sleep(50);
    }
  }

  const serviceOf = (arn: string) => arn.split('/').slice(-2).join('/');
  const linesAbout = (run: WatchdogRun, level: string, message: RegExp) =>
    run.lines.filter((l) => l.level === level && message.test(String(l.message))).map((l) => l.service);

  test('(1) after a rotation the tasks are replaced: no stale task, FleetTokenSecondsLeft is AWSCURRENT seconds left', async () => {
    const before = Date.now();
    await rotateWith(stack, ({ real }) => real({ config: { tokenLifetimeSeconds: SHORT_LIFETIME_SECONDS } }));
    await rolledOut(stack.serviceArns, before);

    const run = await runWatchdog();

    expect(run.result.fleet).toMatchObject({ services: 3, staleTasks: 0, staleServices: 0, healed: [], stillStale: [], failed: [] });
    expect(run.fleetMetrics).toMatchObject({ [MetricName.STALE_TASKS]: 0, [MetricName.FLEET_HEALS_STARTED]: 0 });
    expectSecondsLeft(run, await expiresAt('AWSCURRENT'));
    expect(run.updates).toEqual({});
  });

  test('(2) a stuck rollout: no heal within rolloutAllowance, one heal after it, then "still stale" and the alarm threshold crossed', async () => {
    // GIVEN the second service's new tasks never start, and a rotation (8 h token) redeploys every service
    stack.tasks!.setStuck(stuck, true);
    const before = Date.now();
    await stack.rotate();
    const others = stack.serviceArns.filter((arn) => arn !== stuck);
    await rolledOut(others, before);
    const previousExpires = await expiresAt('AWSPREVIOUS');

    // WHEN the watchdog runs within rolloutAllowance of the promotion
    const early = await runWatchdog();
    const promotedAt = Date.parse(String(early.lines.find((l) => l.message === 'fleet check: summary')!.promotedAt));
    expect(early.startedAt - promotedAt).toBeLessThan(ROLLOUT_ALLOWANCE_SECONDS * 1000);

    // THEN it sees the stuck service's old task, heals nothing, and the fleet's oldest token is the previous one
    expect(early.result.fleet).toMatchObject({ staleTasks: 1, staleServices: 1, healed: [], stillStale: [], failed: [] });
    expect(early.updates).toEqual({});
    expect(linesAbout(early, 'WARN', /^fleet check: service runs tasks started before/)).toEqual([serviceOf(stuck)]);
    expectSecondsLeft(early, previousExpires);

    // WHEN it runs once rolloutAllowance has passed
    await sleep(Math.max(0, promotedAt + ROLLOUT_ALLOWANCE_SECONDS * 1000 + 500 - Date.now()));
    const heal = await runWatchdog();

    // THEN exactly one more forced deployment, of the stuck service only, and a line saying why
    expect(heal.updates).toEqual({ [stuck]: 1 });
    expect(heal.result.fleet).toMatchObject({ staleTasks: 1, healed: [stuck], stillStale: [], failed: [] });
    expect(heal.fleetMetrics[MetricName.FLEET_HEALS_STARTED]).toBe(1);
    expect(linesAbout(heal, 'WARN', /^fleet check: healed a service/)).toEqual([serviceOf(stuck)]);

    // WHEN it runs again, the service still stuck
    const again = await runWatchdog();

    // THEN no second heal: an error line says it is still stale
    expect(again.updates).toEqual({});
    expect(again.result.fleet).toMatchObject({ staleTasks: 1, healed: [], stillStale: [stuck], failed: [] });
    expect(again.fleetMetrics).toMatchObject({ [MetricName.STALE_TASKS]: 1, [MetricName.FLEET_HEALS_STARTED]: 0 });
    expect(linesAbout(again, 'ERROR', /still stale after its heal/)).toEqual([serviceOf(stuck)]);
    // AND FleetTokenSecondsLeft is the old task's token's, below the construct's alarm threshold: alarmed
    expectSecondsLeft(again, previousExpires);
    expect(again.fleetMetrics[MetricName.FLEET_TOKEN_SECONDS_LEFT]).toBeLessThan(ALARM_THRESHOLD_SECONDS);
    expect(again.result.fleet.secondsLeft).toBeLessThan((await expiresAt('AWSCURRENT')) / 1000 - again.endedAt / 1000);
  }, 90_000);

  test('(3) released, the stuck service rolls out: no stale task, FleetTokenSecondsLeft rises back to AWSCURRENT seconds left', async () => {
    stack.tasks!.setStuck(stuck, false);
    // Every running task then started after AWSCURRENT was signed, so after its promotion too.
    await rolledOut([stuck], Date.parse((await stack.readStage('AWSCURRENT')).issuedAt));

    const run = await runWatchdog();

    expect(run.result.fleet).toMatchObject({ services: 3, staleTasks: 0, staleServices: 0, healed: [], stillStale: [], failed: [] });
    expect(run.fleetMetrics[MetricName.STALE_TASKS]).toBe(0);
    expect(run.updates).toEqual({});
    expectSecondsLeft(run, await expiresAt('AWSCURRENT'));
    expect(run.fleetMetrics[MetricName.FLEET_TOKEN_SECONDS_LEFT]).toBeGreaterThanOrEqual(ALARM_THRESHOLD_SECONDS);
  });

  test('no token, signature or key in any log, watchdog result or this process output', async () => {
    const { leaks, secretsChecked, bytesChecked } = await findLeaks({
      stack,
      texts: { 'test process output': output.text(), 'watchdog results': texts.join('\n') },
      secretAccessKeys: [stack.signer.secretAccessKey],
    });
    expect(leaks).toEqual([]);
    // Both tokens (raw, encoded, signature), the key and the markers.
    expect(secretsChecked).toBeGreaterThanOrEqual(2 * 3 + 1 + 2);
    expect(bytesChecked).toBeGreaterThan(10_000);
    expect(texts.length).toBeGreaterThanOrEqual(5);
  });
});
