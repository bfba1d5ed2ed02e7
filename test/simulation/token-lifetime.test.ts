/**
 * Weeks of simulated rotations, failures, watchdog checks and ECS rollouts
 * (see ./simulation.ts), checked against the time budget of lib/timing.ts.
 *
 * Every model schedules rotations as the construct does: EventBridge
 * Scheduler on the tick, Secrets Manager's own schedule anywhere in
 * NATIVE_SCHEDULE_WINDOW_SECONDS after it (lib/validation.ts's needsScheduler
 * and timingBudget decide which).
 *
 * Main model (the budget alone): a failed rotation cleans up after itself,
 * failures are single incidents, access keys are deleted at the createSecret
 * of the rotation after next. "As implemented" runs the handlers' actual
 * behaviour: AWSPENDING left by failures and cleared by the watchdog once
 * older than STALE_PENDING_SECONDS, the deferral of rotations within
 * rolloutAllowance of the last promotion (functions/deferral.ts, with
 * the watchdog's deferral rule), and the access-key signer's guard.
 *
 * Known gaps are written with test.failing: each asserts the safe outcome,
 * which does not hold today, and states the gap; it starts failing (to be
 * flipped into a normal test) once the gap is closed.
 *
 * Seeds: SEEDS below; each seed also fixes the run's failure rate (5-10 %).
 */
import {
  minimumRotationIntervalSeconds,
  minimumTokenLifetimeSeconds,
  NATIVE_SCHEDULE_WINDOW_SECONDS,
  previousTokenInUseSeconds,
} from '../../lib/timing';
import { validateTiming } from '../../lib/validation';
import { DAY, HOUR, MINUTE, WEEK } from './clock';
import { budgetOf, budgetViolations, detectionWindowSeconds, settingsOf, TimingConfig, withTightestLifetime } from './config';
import { DEFAULT_SIM, SimOptions } from './options';
import { mulberry32 } from './prng';
import { RotationRecord, SimResult } from './records';
import { causedByFollowUp, formatTable, ScenarioSummary, summarize } from './report';
import { simulate } from './simulation';

const SEEDS = [101, 202, 303, 404, 505];
/** Attempts 2 and 7 (normally scheduled ones) fail in every run, whatever the random draw. */
const SCRIPTED_FAILURES = [2, 7];
const MAX_ROTATION_SECONDS = DEFAULT_SIM.rotationSeconds.max;
/** Every rollout takes the whole rolloutAllowance: the longest the budget allows. */
const WHOLE_ALLOWANCE: SimOptions['rolloutFraction'] = { min: 1, max: 1 };
const NO_FAILURES: SimOptions['failures'] = { rate: 0, isolated: true, scripted: [] };

/** Each seed's failure rate, 5-10 %. */
function failureRate(seed: number): number {
  return 0.05 + 0.05 * mulberry32(seed ^ 0x5bd1e995)();
}

// --- configurations, derived from the budget --------------------------------

/** Secrets Manager's own schedule (4 h, whole hours): window NATIVE_SCHEDULE_WINDOW_SECONDS. */
const DEFAULT: TimingConfig = {
  name: 'default 4h/8h',
  rotationIntervalSeconds: 4 * HOUR,
  tokenLifetimeSeconds: 8 * HOUR,
  rolloutAllowanceSeconds: 30 * MINUTE,
  watchdogIntervalSeconds: 5 * MINUTE,
};
/** EventBridge Scheduler: on the tick. */
const SUB_4H: TimingConfig = {
  name: 'sub-4h 1h/2h',
  rotationIntervalSeconds: HOUR,
  tokenLifetimeSeconds: 2 * HOUR,
  rolloutAllowanceSeconds: 15 * MINUTE,
  watchdogIntervalSeconds: 5 * MINUTE,
};
const LONG: TimingConfig = {
  name: 'long 24h/7d',
  rotationIntervalSeconds: DAY,
  tokenLifetimeSeconds: 7 * DAY,
  rolloutAllowanceSeconds: 30 * MINUTE,
  watchdogIntervalSeconds: 5 * MINUTE,
};
/** The shortest interval the budget allows for a 15-minute rollout and a 5-minute watchdog (EventBridge Scheduler). */
const MIN_INTERVAL = withTightestLifetime({
  name: 'min interval',
  rotationIntervalSeconds: minimumRotationIntervalSeconds({ rolloutAllowanceSeconds: 15 * MINUTE, watchdogIntervalSeconds: 5 * MINUTE }),
  tokenLifetimeSeconds: 0,
  rolloutAllowanceSeconds: 15 * MINUTE,
  watchdogIntervalSeconds: 5 * MINUTE,
});

/** Every base with its own lifetime and with the tightest lifetime the budget allows. */
const ACCESS_KEY_CONFIGS = [DEFAULT, SUB_4H, LONG].flatMap((c) => [c, withTightestLifetime(c)]);
/** The role signer's credentials last at most about 12 hours: a 7-day lifetime makes no sense with it. */
const ROLE_CONFIGS = [DEFAULT, SUB_4H].flatMap((c) => [c, withTightestLifetime(c)]);

/** Budget violations: lifetime = interval + allowance; interval = allowance; the budget without the schedule window. */
const SHORT_LIFETIME: TimingConfig = {
  ...DEFAULT,
  name: 'lifetime = interval + allowance',
  tokenLifetimeSeconds: DEFAULT.rotationIntervalSeconds + DEFAULT.rolloutAllowanceSeconds,
};
const SHORT_INTERVAL = withTightestLifetime({
  ...DEFAULT,
  name: 'interval = allowance',
  rotationIntervalSeconds: DEFAULT.rolloutAllowanceSeconds,
});
const NO_WINDOW: TimingConfig = {
  ...DEFAULT,
  name: 'lifetime without the schedule window',
  tokenLifetimeSeconds: minimumTokenLifetimeSeconds(budgetOf(DEFAULT)) - budgetOf(DEFAULT).scheduleWindowSeconds,
};

const ROLE_EARLY_DEATH: SimOptions['signer'] = { kind: 'role', credentialLifeSeconds: { min: 15 * MINUTE, max: 12 * HOUR } };
/** Role credentials that always outlive the token's own lifetime. */
function roleOutliving(c: TimingConfig): SimOptions['signer'] {
  return {
    kind: 'role',
    credentialLifeSeconds: { min: c.tokenLifetimeSeconds + MINUTE, max: Math.max(12 * HOUR, c.tokenLifetimeSeconds + HOUR) },
  };
}

// --- running and reporting --------------------------------------------------

type Overrides = Partial<Omit<SimOptions, 'config' | 'seed'>> & { readonly signer: SimOptions['signer'] };

function options(config: TimingConfig, seed: number, o: Overrides): SimOptions {
  return {
    ...DEFAULT_SIM,
    failureLeavesPending: false,
    failures: { rate: failureRate(seed), isolated: true, scripted: SCRIPTED_FAILURES },
    config,
    seed,
    ...o,
  };
}

interface Scenario {
  readonly name: string;
  readonly config: TimingConfig;
  readonly results: SimResult[];
}

function runScenarios(
  configs: readonly TimingConfig[],
  o: Overrides | ((c: TimingConfig) => Overrides),
  label = '',
  seeds: readonly number[] = SEEDS,
): Scenario[] {
  return configs.map((config) => {
    const ov = typeof o === 'function' ? o(config) : o;
    return { name: `${config.name}${label}`, config, results: seeds.map((seed) => simulate(options(config, seed, ov))) };
  });
}

function print(title: string, scenarios: readonly Scenario[]): ScenarioSummary[] {
  const rows = scenarios.map((s) => summarize(s.name, s.results));
  console.log(
    formatTable(
      `${title} — ${SEEDS.length} seeds (${SEEDS.join(', ')}) × ${DEFAULT_SIM.durationSeconds / WEEK} weeks, ` +
        `${DEFAULT_SIM.services} services × ${DEFAULT_SIM.tasksPerService} tasks`,
      rows,
    ),
  );
  return rows;
}

/** One line per (scenario, seed) that breaks `ok`, so a failure names the run to replay. */
function offenders(
  scenarios: readonly Scenario[],
  ok: (r: SimResult, s: Scenario) => boolean,
  show: (r: SimResult, s: Scenario) => unknown,
): string[] {
  return scenarios.flatMap((s) =>
    s.results.filter((r) => !ok(r, s)).map((r) => `${s.name} seed ${r.options.seed}: ${JSON.stringify(show(r, s))}`),
  );
}

const deadAndMargin = (r: SimResult) => ({
  deadTaskMin: +(r.deadTaskSeconds / MINUTE).toFixed(2),
  worstMarginMin: +(r.worstMarginSeconds / MINUTE).toFixed(2),
});
const noDead = (scenarios: readonly Scenario[]) =>
  expect(offenders(scenarios, (r) => r.deadTaskSeconds === 0 && r.worstMarginSeconds > 0, deadAndMargin)).toEqual([]);

/** Rotations never overlap, and the watchdog never started one while another ran. */
function noOverlap(r: SimResult): boolean {
  if (r.watchdog.rotationsWhileInProgress !== 0) return false;
  return r.rotations.every((rot, i) => i === 0 || rot.startedAt >= r.rotations[i - 1].endedAt!);
}

/** Scheduled rotations that started less than rolloutAllowance after the previous promotion. */
const followUps = (r: SimResult, c: TimingConfig) =>
  r.rotations.filter((rot) => rot.trigger === 'scheduled' && rot.sinceLastPromotion < c.rolloutAllowanceSeconds);
/** Rotations the key guard's window made keep every key (or, failing instead, fail). */
const guardFailures = (r: SimResult) =>
  r.rotations.filter((rot) => rot.keptKeys === 'window' || rot.failReason?.includes('within the rollout and heal window'));
/** Every dead-token episode comes from such a follow-up (see causedByFollowUp). */
const onlyFollowUpDeaths = (scenarios: readonly Scenario[]) =>
  expect(
    offenders(
      scenarios,
      (r, s) => r.episodes.every((e) => causedByFollowUp(e, s.config)),
      (r, s) =>
        r.episodes.filter((e) => !causedByFollowUp(e, s.config)).map((e) => ({ task: e.taskId, fromMin: +(e.from / MINUTE).toFixed(1) })),
    ),
  ).toEqual([]);

/** Minutes a scheduled rotation started after its tick. */
const startOffsetMin = (rot: RotationRecord, c: TimingConfig) => (rot.startedAt % c.rotationIntervalSeconds) / MINUTE;

// ---------------------------------------------------------------------------

describe('the configurations', () => {
  test('valid ones are exactly those the construct accepts; the violating ones are rejected', () => {
    const accepts = (c: TimingConfig) => {
      try {
        validateTiming(settingsOf(c));
        return true;
      } catch {
        return false;
      }
    };
    for (const c of [...ACCESS_KEY_CONFIGS, MIN_INTERVAL]) {
      expect({ config: c.name, violations: budgetViolations(c), accepted: accepts(c) }).toEqual({
        config: c.name,
        violations: [],
        accepted: true,
      });
    }
    for (const c of [SHORT_LIFETIME, SHORT_INTERVAL, NO_WINDOW]) {
      expect(budgetViolations(c).length).toBeGreaterThan(0);
      expect(accepts(c)).toBe(false);
    }
  });

  test("Secrets Manager's own schedule has the 1-hour window, EventBridge Scheduler none", () => {
    expect([DEFAULT, LONG, SUB_4H, MIN_INTERVAL].map((c) => [c.name, budgetOf(c).scheduleWindowSeconds])).toEqual([
      [DEFAULT.name, NATIVE_SCHEDULE_WINDOW_SECONDS],
      [LONG.name, NATIVE_SCHEDULE_WINDOW_SECONDS],
      [SUB_4H.name, 0],
      [MIN_INTERVAL.name, 0],
    ]);
  });
});

describe('1. main model (the budget alone), access-key signer, single failed rotations', () => {
  const scenarios = runScenarios(ACCESS_KEY_CONFIGS, { signer: { kind: 'access-key' } });
  const minInterval = runScenarios([MIN_INTERVAL], { signer: { kind: 'access-key' } });
  beforeAll(() => print('1. main model, access-key signer', [...scenarios, ...minInterval]));

  // Gap (finding 4, in the budget alone): the watchdog rescues a failed
  // rotation when the token has rotateBeforeExpirySeconds left, which is tied
  // to the token's expiry, not to the ticks: with a lifetime longer than the
  // tightest one, or a token minted off the ticks by an earlier rescue, the
  // rescue lands within rolloutAllowance before the next scheduled rotation
  // (the 1-hour window widens the range). That rotation's createSecret
  // deletes the key the rescue's rollout is still replacing.
  // minimumRotationIntervalSeconds does not prevent it. With the budget
  // before the heal window (rotateBeforeExpiry 55 min by default), seeds
  // 1-100: 77 % of runs with default 4h/8h (down to -31 min), 91 % with
  // sub-4h 1h/2h (-16 min), 1 % with default's tightest lifetime (-19 min).
  // With the heal window (90 min) the rescue lands earlier: seeds 1-1000,
  // 1.3 % of runs with default's tightest lifetime (down to -31 min), none
  // in seeds 1-100 for the other configurations; seed 100 reproduces it. The
  // handler defers such rotations, which closes it ("as implemented" below;
  // the key guard stays as a second line of defence).
  const finding4 = runScenarios([withTightestLifetime(DEFAULT)], { signer: { kind: 'access-key' } }, ', seed 100', [100]);
  test.failing('no task ever holds a dead token: every token outlives its last holder (margin > 0)', () =>
    noDead([...scenarios, ...finding4]),
  );

  test('every dead token comes from a scheduled rotation started within rolloutAllowance of the previous promotion', () => {
    onlyFollowUpDeaths([...scenarios, ...finding4]);
    // The gap above does show here.
    expect(finding4[0].results[0].episodes.length).toBeGreaterThan(0);
  });

  // Was finding 4 with the old budget (interval 20 min): now 40 min
  // (2 × rolloutAllowance + watchdogInterval + margin). Seeds 1-100: no dead
  // token, worst margin 1.1 min.
  test('the shortest allowed interval survives a failed rotation', () => noDead(minInterval));

  test('every run covers at least 4 weeks with scheduled rotations and failed ones', () => {
    for (const s of scenarios) {
      for (const r of s.results) {
        expect(r.options.durationSeconds).toBeGreaterThanOrEqual(4 * WEEK);
        expect(r.scheduled.started).toBeGreaterThanOrEqual((4 * WEEK) / s.config.rotationIntervalSeconds - 1 - r.failed);
        expect(r.failed).toBeGreaterThanOrEqual(SCRIPTED_FAILURES.length);
      }
    }
  });

  test('with the tightest lifetime, a failed rotation is rescued by the watchdog', () => {
    const tight = scenarios.filter((s) => s.name.endsWith('tightest lifetime'));
    for (const s of tight) expect(s.results.reduce((n, r) => n + r.watchdog.rotations, 0)).toBeGreaterThan(0);
  });
});

describe('2. role signer', () => {
  const early = runScenarios(ROLE_CONFIGS, { signer: ROLE_EARLY_DEATH }, ', creds 15m-12h');
  const outliving = runScenarios(ROLE_CONFIGS, (c) => ({ signer: roleOutliving(c) }), ', creds outlive lifetime');
  beforeAll(() => {
    print('2. role signer', [...early, ...outliving]);
    console.log(
      early
        .map((s) => {
          const episodes = s.results.flatMap((r) => r.episodes);
          const clean = episodes.filter((e) => e.attempts <= 1 && e.failedAttempts === 0 && e.recoveriesThatDied === 0);
          const longest = (es: typeof episodes) => (Math.max(0, ...es.map((e) => e.to - e.from)) / MINUTE).toFixed(1);
          return (
            `${s.name}: ${episodes.length} dead episodes, ${clean.length} with one clean recovery (longest ${longest(clean)} min, ` +
            `window ${detectionWindowSeconds(s.config, MAX_ROTATION_SECONDS) / MINUTE} min), ${episodes.length - clean.length} ` +
            `compound (longest ${longest(episodes)} min)`
          );
        })
        .join('\n'),
    );
  });

  test('early credential death happens, and the watchdog detects and replaces it', () => {
    for (const s of early) {
      expect(s.results.reduce((n, r) => n + r.episodes.length, 0)).toBeGreaterThan(0);
      expect(s.results.reduce((n, r) => n + r.watchdog.rotations, 0)).toBeGreaterThan(0);
    }
  });

  test('a task holds a dead token no longer than the detection window when one recovery rotation does it', () => {
    const problems = early.flatMap((s) => {
      const window = detectionWindowSeconds(s.config, MAX_ROTATION_SECONDS);
      return s.results.flatMap((r) =>
        r.episodes
          .filter((e) => e.attempts <= 1 && e.failedAttempts === 0 && e.recoveriesThatDied === 0 && e.to - e.from > window)
          .map(
            (e) =>
              `${s.name} seed ${r.options.seed} task ${e.taskId}: dead ${((e.to - e.from) / MINUTE).toFixed(1)} min > window ${window / MINUTE} min`,
          ),
      );
    });
    expect(problems).toEqual([]);
  });

  test('otherwise, no longer than one detection window per rotation attempt made meanwhile', () => {
    // Longer episodes happen when the recovery fails, its own token dies during
    // its rollout, or a scheduled rotation supersedes the recovery rollout.
    const problems = early.flatMap((s) => {
      const window = detectionWindowSeconds(s.config, MAX_ROTATION_SECONDS);
      return s.results.flatMap((r) =>
        r.episodes
          .filter((e) => e.to - e.from > Math.max(1, e.attempts) * window)
          .map(
            (e) =>
              `${s.name} seed ${r.options.seed} task ${e.taskId}: dead ${((e.to - e.from) / MINUTE).toFixed(1)} min with ${e.attempts} attempts`,
          ),
      );
    });
    expect(problems).toEqual([]);
  });

  // Not default 4h/8h itself: its 8-hour lifetime has finding 3 (see "as
  // implemented"), which these seeds happen to miss (seeds 1-100: 8 % of runs).
  test('when the credentials outlive the lifetime, no task holds a dead token (margin > 0)', () => {
    noDead(outliving.filter((s) => s.config !== DEFAULT));
  });
});

describe('3. configurations that break the budget do produce dead tokens', () => {
  const shortLifetime = runScenarios([SHORT_LIFETIME], { signer: { kind: 'access-key' } }, ', access key');
  const shortLifetimeNoWatchdog = runScenarios(
    [SHORT_LIFETIME],
    { signer: { kind: 'access-key' }, watchdog: false },
    ', access key, no watchdog',
  );
  const shortInterval = runScenarios([SHORT_INTERVAL], { signer: { kind: 'access-key' } }, ', access key');
  const noWatchdog = runScenarios([DEFAULT], { signer: ROLE_EARLY_DEATH, watchdog: false }, ', role creds 15m-12h, no watchdog');
  const all = [...shortLifetime, ...shortLifetimeNoWatchdog, ...shortInterval, ...noWatchdog];
  beforeAll(() => print('3. budget violations', all));

  test.each(all.map((s) => [s.name, s] as const))('%s', (_name, s) => {
    expect(s.results.reduce((n, r) => n + r.deadTaskSeconds, 0)).toBeGreaterThan(0);
    expect(Math.min(...s.results.map((r) => r.worstMarginSeconds))).toBeLessThan(0);
  });

  test('without the watchdog, early credential death leaves tasks on dead tokens far longer than the detection window', () => {
    const window = detectionWindowSeconds(DEFAULT, MAX_ROTATION_SECONDS);
    expect(Math.max(...noWatchdog[0].results.map((r) => r.maxDeadEpisodeSeconds))).toBeGreaterThan(2 * window);
  });

  test('lifetime = interval + allowance makes the watchdog fire on a healthy schedule', () => {
    const healthy = runScenarios([SHORT_LIFETIME], { signer: { kind: 'access-key' }, failures: NO_FAILURES });
    expect(healthy[0].results.every((r) => r.watchdog.rotations > 0)).toBe(true);
  });

  test('a lifetime without the schedule window makes the watchdog fire on a healthy Secrets Manager schedule', () => {
    const healthy = runScenarios([NO_WINDOW], { signer: { kind: 'access-key' }, failures: NO_FAILURES });
    expect(healthy[0].results.every((r) => r.watchdog.rotations > 0)).toBe(true);
  });
});

/**
 * Healthy schedules, as implemented (see asImplemented below; without
 * failures it behaves as the main model): shared by 4 and "as implemented".
 */
const HEALTHY_ACCESS_KEY = runScenarios(
  ACCESS_KEY_CONFIGS,
  (c) => ({ ...asImplemented(c), failures: NO_FAILURES }),
  ', access key, healthy',
);

describe('4. the watchdog', () => {
  const healthy = [
    ...HEALTHY_ACCESS_KEY,
    ...runScenarios(ROLE_CONFIGS, (c) => ({ ...asImplemented(c, roleOutliving(c)), failures: NO_FAILURES }), ', role, healthy'),
  ];
  // AWSPENDING left by failures: see "as implemented".
  const stressed = runScenarios(
    ROLE_CONFIGS,
    { signer: ROLE_EARLY_DEATH, failures: { rate: 0.1, isolated: false, scripted: SCRIPTED_FAILURES } },
    ', role, independent 10 % failures',
  );
  beforeAll(() => print('4. healthy schedules (as implemented)', healthy));

  test("scheduled rotations start on the tick with EventBridge Scheduler, anywhere in the window with Secrets Manager's schedule", () => {
    for (const s of healthy) {
      const offsets = s.results.flatMap((r) =>
        r.rotations.filter((rot) => rot.trigger === 'scheduled').map((rot) => startOffsetMin(rot, s.config)),
      );
      const window = budgetOf(s.config).scheduleWindowSeconds / MINUTE;
      expect({
        scenario: s.name,
        max: Math.max(...offsets) <= window,
        spread: window === 0 || Math.max(...offsets) > 0.9 * window,
      }).toEqual({ scenario: s.name, max: true, spread: true });
      if (window > 0) expect(Math.min(...offsets)).toBeLessThan(0.1 * window);
    }
  });

  test('never starts a rotation while one is in progress, healthy or not', () => {
    expect(offenders([...healthy, ...stressed], noOverlap, (r) => r.watchdog)).toEqual([]);
    // It did have to hold back: some checks saw a rotation in progress.
    expect(stressed.reduce((n, s) => n + s.results.reduce((m, r) => m + r.watchdog.waits, 0), 0)).toBeGreaterThan(0);
  });

  // Was finding 1: the budget now counts the 1-hour window of Secrets
  // Manager's schedule (NATIVE_SCHEDULE_WINDOW_SECONDS) in the lifetime.
  test('never fires on a healthy schedule (no failures, no early death), even with the tightest lifetime and the rotation window', () => {
    expect(
      offenders(
        healthy,
        (r) => r.watchdog.rotations === 0 && r.failed === 0 && r.deadTaskSeconds === 0 && r.worstMarginSeconds > 0,
        (r) => ({ watchdogRotations: r.watchdog.rotations, failed: r.failed, ...deadAndMargin(r) }),
      ),
    ).toEqual([]);
  });
});

describe('failures beyond the budget', () => {
  const independent = runScenarios(
    ACCESS_KEY_CONFIGS,
    {
      signer: { kind: 'access-key' },
      failures: { rate: 0.1, isolated: false, scripted: SCRIPTED_FAILURES },
    },
    ', independent 10 % failures',
  );
  beforeAll(() => print('consecutive failures (the budget covers one failed attempt)', independent));

  test("dead tokens other than finding 4's appear only in runs where at least two attempts failed in a row", () => {
    expect(
      offenders(
        independent,
        (r, s) => r.episodes.every((e) => causedByFollowUp(e, s.config)) || r.maxConsecutiveFailures >= 2,
        (r) => ({ ...deadAndMargin(r), maxConsecutiveFailures: r.maxConsecutiveFailures }),
      ),
    ).toEqual([]);
  });
});

/**
 * The behaviour as functions/ implements it: a failed rotation leaves
 * AWSPENDING, which blocks scheduled rotations until the watchdog clears it
 * (on any check, once older than STALE_PENDING_SECONDS); a rotation within
 * rolloutAllowance of the last promotion is deferred (steps.ts with the real
 * decideDeferral: a no-op and a deferral tag; the watchdog rotates at its
 * first check after rolloutAllowance); createSecret with an access key still
 * fails instead of deleting AWSPREVIOUS's key within rolloutAllowance of the
 * last promotion (signer.ts), should a rotation get past the deferral.
 */
function asImplemented(c: TimingConfig, signer: SimOptions['signer'] = accessKeyAsImplemented(c)): Overrides {
  return { signer, failureLeavesPending: true, clearStalePendingWhenHealthy: true, scheduledWithinRollout: 'handler' };
}
/** asImplemented before deferral existed: a scheduled rotation within rolloutAllowance runs. */
function withoutDeferral(c: TimingConfig, signer?: SimOptions['signer']): Overrides {
  return { ...asImplemented(c, signer), scheduledWithinRollout: 'run' };
}
function accessKeyAsImplemented(c: TimingConfig): SimOptions['signer'] {
  return { kind: 'access-key', guardSeconds: previousTokenInUseSeconds(c), guardAction: 'reuse', fleetGuard: true };
}

describe('as implemented (AWSPENDING left by failures and cleared when stale, deferral, key guard)', () => {
  const survives = runScenarios([DEFAULT, SUB_4H, LONG], (c) => asImplemented(c), ', access key');
  const tight = runScenarios(
    ACCESS_KEY_CONFIGS.filter((c) => c.name.endsWith('tightest lifetime')),
    (c) => asImplemented(c),
    ', access key',
  );
  const role = runScenarios(
    [DEFAULT],
    (c) => ({ ...asImplemented(c, roleOutliving(c)), rolloutFraction: WHOLE_ALLOWANCE }),
    ', role, creds outlive lifetime, whole-allowance rollouts',
  );
  const minInterval = runScenarios([MIN_INTERVAL], (c) => asImplemented(c), ', access key');
  /** The same, before deferral existed: findings 3 and 4. */
  const before = {
    survives: runScenarios([DEFAULT, SUB_4H, LONG], (c) => withoutDeferral(c), ', access key, no deferral'),
    role: runScenarios(
      [DEFAULT],
      (c) => ({ ...withoutDeferral(c, roleOutliving(c)), rolloutFraction: WHOLE_ALLOWANCE }),
      ', role, creds outlive lifetime, whole-allowance rollouts, no deferral',
    ),
    minInterval: runScenarios([MIN_INTERVAL], (c) => withoutDeferral(c), ', access key, no deferral'),
  };
  const all = [...survives, ...tight, ...role, ...minInterval];
  beforeAll(() => {
    print('as implemented (healthy schedules: see 4)', all);
    print('as implemented before deferral', [...before.survives, ...before.role, ...before.minInterval]);
    console.log(
      [...survives, ...minInterval, ...role, ...before.survives, ...before.minInterval, ...before.role]
        .map(
          (s) =>
            `${s.name}: ` +
            `${s.results.reduce((n, r) => n + followUps(r, s.config).length, 0)} scheduled rotations within rolloutAllowance of the ` +
            `last promotion, ` +
            `${s.results.reduce((n, r) => n + guardFailures(r).length, 0)} failed by the key guard, ` +
            `${s.results.reduce((n, r) => n + r.deferrals.scheduled, 0)}/${s.results.reduce((n, r) => n + r.deferrals.watchdog, 0)} ` +
            'scheduled/watchdog rotations deferred',
        )
        .join('\n'),
    );
  });

  test('the default, sub-4h and long configurations survive single failed rotations with access keys', () => noDead(survives));

  test('the watchdog never starts a rotation while one is in progress, with AWSPENDING left by failures', () => {
    expect(offenders(all, noOverlap, (r) => r.watchdog)).toEqual([]);
    // It did have to hold back, and it cleared stale AWSPENDING versions.
    expect(all.reduce((n, s) => n + s.results.reduce((m, r) => m + r.watchdog.waits, 0), 0)).toBeGreaterThan(0);
    expect(all.reduce((n, s) => n + s.results.reduce((m, r) => m + r.watchdog.staleCleared, 0), 0)).toBeGreaterThan(0);
  });

  // Was finding 2: rotateBeforeExpirySeconds now includes STALE_PENDING_SECONDS,
  // the wait before the watchdog clears a failed rotation's AWSPENDING.
  test('the tightest lifetimes survive a failed rotation', () => noDead(tight));

  // Was finding 4 with the old budget (interval 20 min < the 30-min stale
  // wait): the interval is now at least STALE_PENDING_SECONDS +
  // watchdogInterval + margin. Seeds 1-1000: no dead token.
  test('the shortest allowed interval survives a failed rotation', () => noDead(minInterval));

  // Was finding 3: the rescue after a failed rotation starts when the token
  // has less than rotateBeforeExpirySeconds left, and a scheduled rotation
  // could start within rolloutAllowance of its promotion (finding 4): with
  // the role signer its rollout superseded the rescue's (ECS), so the old
  // tasks stopped only when the scheduled rollout completed, after the old
  // token expired (default 4h/8h, seeds 1-100: 60 % of runs with
  // whole-allowance rollouts, worst -10.1 min). createSecret now defers such
  // a rotation; the watchdog rotates once rolloutAllowance has passed.
  test('the role signer survives a failed rotation with the default configuration', () => noDead(role));

  // With the heal window in the budget, the rescue's promotion leaves the old
  // token previousTokenInUseSeconds (2 x rolloutAllowance + watchdogInterval),
  // and a rollout that supersedes the rescue's within rolloutAllowance ends
  // within 2 x rolloutAllowance of it: finding 3 is closed by the budget
  // alone (seeds 1-100: no dead token; such rotations became rare too, as
  // the rescue now lands earlier), the deferral is a second line.
  test('before deferral, the role signer survives scheduled rotations within rolloutAllowance of the rescue too', () => {
    noDead(before.role);
    const superseded = DEFAULT.rolloutAllowanceSeconds * 2 + MAX_ROTATION_SECONDS;
    expect(superseded).toBeLessThan(previousTokenInUseSeconds(DEFAULT));
  });

  // Was finding 4: nothing held back a scheduled rotation due within
  // rolloutAllowance of the last promotion (a watchdog rescue's). The
  // access-key signer's guard failed it (seeds 1-100, default 4h/8h: 204 such
  // guard failures in 1,619 failed rotations); the role signer ran it
  // (finding 3). createSecret now defers it, so the guard is only a second
  // line of defence.
  test('no scheduled rotation starts within rolloutAllowance of the last promotion, the key guard never fails one, deferrals happen', () => {
    expect(
      offenders(
        [...survives, ...role, ...minInterval],
        (r, s) => followUps(r, s.config).length === 0 && guardFailures(r).length === 0,
        (r, s) => ({ followUps: followUps(r, s.config).length, guardFailures: guardFailures(r).length }),
      ),
    ).toEqual([]);
    expect(
      [...survives, ...role, ...minInterval]
        .filter((s) => s.config !== LONG)
        .every((s) => s.results.some((r) => r.deferrals.scheduled > 0)),
    ).toBe(true);
    // Before deferral they did happen.
    expect(
      [...before.survives, ...before.role, ...before.minInterval].reduce(
        (n, s) => n + s.results.reduce((m, r) => m + followUps(r, s.config).length, 0),
        0,
      ),
    ).toBeGreaterThan(0);
  });
});

/**
 * The idealised fix for findings 3 and 4 (now implemented, with the
 * watchdog's delay: see "as implemented"): a scheduled rotation due within
 * the rollout and heal window of the last promotion (previousTokenInUseSeconds)
 * waits until that window ends (scheduledWithinRollout 'defer'). Skipping it
 * instead ('skip') is not enough: at the shortest interval the rescue's
 * token must then be renewed by the watchdog before the next tick, and a
 * failure of that rotation (a second one within a token lifetime) left dead
 * tokens in 5 % of runs (seeds 1-100; 'defer': none).
 */
describe('idealised fix: defer scheduled rotations exactly until the rollout and heal window after the last promotion', () => {
  const defer = { scheduledWithinRollout: 'defer' } as const;
  const mainModel = runScenarios([DEFAULT, SUB_4H], { signer: { kind: 'access-key' }, ...defer }, ', access key, main model, deferred');
  const implemented = runScenarios([DEFAULT, MIN_INTERVAL], (c) => ({ ...withoutDeferral(c), ...defer }), ', access key, deferred');
  const role = runScenarios(
    [DEFAULT],
    (c) => ({ ...withoutDeferral(c, roleOutliving(c)), rolloutFraction: WHOLE_ALLOWANCE, ...defer }),
    ', role, whole-allowance rollouts, deferred',
  );
  const all = [...mainModel, ...implemented, ...role];
  beforeAll(() => print('proposed fix (deferred scheduled rotations)', all));

  test('no task holds a dead token, no scheduled rotation starts within rolloutAllowance, the key guard never fails one', () => {
    noDead(all);
    expect(
      offenders(
        all,
        (r, s) => followUps(r, s.config).length === 0 && guardFailures(r).length === 0,
        (r, s) => ({ followUps: followUps(r, s.config).length, guardFailures: guardFailures(r).length }),
      ),
    ).toEqual([]);
    // Some rotations were deferred, and the watchdog still rescued failures.
    expect(all.every((s) => s.results.some((r) => r.watchdog.rotations > 0))).toBe(true);
    const held = (s: Scenario) => s.results.reduce((n, r) => n + r.scheduled.heldWithinRollout, 0);
    expect(all.filter((s) => s.config !== SUB_4H).every((s) => s.results.some((r) => r.scheduled.heldWithinRollout > 0))).toBe(true);
    // Sub-4h's 2-hour lifetime is the tightest its budget allows, so the rescue starts at the failed tick itself (its
    // token then has just rotateBeforeExpiry left): the next tick is a whole interval (1 h) later, past the 35-minute window.
    expect(all.filter((s) => s.config === SUB_4H).map(held)).toEqual([0]);
  });
});
