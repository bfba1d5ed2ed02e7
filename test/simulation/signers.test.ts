/**
 * The two signers with the construct's default timing, as implemented
 * (deferral, AWSPENDING left by failures, the access-key guard), on a fleet
 * where a share of rollouts never finishes, the watchdog's healer gives each
 * such service one more deployment, and standalone tasks run beside the
 * services. The measure: dead task-minutes per week, the minutes during which
 * a running task holds a token that no longer authenticates.
 *
 * The role signer's figure is ROLE_SIGNER_DEAD_TASK_MINUTES_PER_WEEK, quoted by
 * its synth warning (lib/token-signer-binding.ts): the last test keeps them equal.
 */
import { ROLE_SIGNER_DEAD_TASK_MINUTES_PER_WEEK } from '../../lib/token-signer-binding';
import { minimumTaskValiditySeconds, previousTokenInUseSeconds } from '../../lib/timing';
import { HOUR, MINUTE, WEEK } from './clock';
import { budgetOf, TimingConfig } from './config';
import { DEFAULT_SIM, SignerModel, SimOptions } from './options';
import { DeadEpisode, SimResult } from './records';
import { DeadMinutesSummary, formatDeadMinutesTable, summarizeDeadMinutes } from './report';
import { simulate } from './simulation';

const SEEDS = [11, 22, 33, 44, 55, 66, 77, 88, 99, 110];
/** The construct's defaults (lib/dsql-url-secret.ts). */
const DEFAULTS: TimingConfig = {
  name: 'defaults 4h/8h',
  rotationIntervalSeconds: 4 * HOUR,
  tokenLifetimeSeconds: 8 * HOUR,
  rolloutAllowanceSeconds: 30 * MINUTE,
  watchdogIntervalSeconds: 5 * MINUTE,
};
/** Share of rollouts that never finish, the healer's retry included. */
const STUCK_SHARE = 0.05;
/** One a hour, each running as long as the construct promises a task (lib/timing.ts). */
const STANDALONE = { perDay: 24, runSeconds: minimumTaskValiditySeconds(budgetOf(DEFAULTS)) };
const FAILURES: SimOptions['failures'] = { rate: 0.05, isolated: true, scripted: [] };
const NO_FAILURES: SimOptions['failures'] = { rate: 0, isolated: true, scripted: [] };

/** Lambda role session credentials end 1 to 12 hours after signing (FACTS.md): uniformly, unknown to the function. */
const ROLE: SignerModel = { kind: 'role', credentialLifeSeconds: { min: HOUR, max: 12 * HOUR } };
/**
 * functions/signer-key-reuse.ts: AWSPREVIOUS's key is kept for previousTokenInUseSeconds after a promotion, and after that
 * while a running service task holds a token it signed (key-guard.ts); while a key is kept, AWSCURRENT's key signs.
 */
const ACCESS_KEY: SignerModel = {
  kind: 'access-key',
  guardSeconds: previousTokenInUseSeconds(DEFAULTS),
  guardAction: 'reuse',
  fleetGuard: true,
};
/** The design before: createSecret failed while a guard held a key back. */
const ACCESS_KEY_FAILING: SignerModel = { ...ACCESS_KEY, guardAction: 'fail' };

/** The fleet the warning's figure is for. */
const FLEET =
  `${DEFAULT_SIM.services} services × ${DEFAULT_SIM.tasksPerService} tasks and ${STANDALONE.perDay} standalone tasks a day ` +
  `(${STANDALONE.runSeconds / MINUTE} min each), ${STUCK_SHARE * 100} % of rollouts stuck, ${FAILURES.rate * 100} % of rotations failed`;

interface Scenario {
  readonly name: string;
  readonly results: SimResult[];
  readonly summary: DeadMinutesSummary;
}

function scenario(name: string, signer: SignerModel, o: Partial<SimOptions> = {}): Scenario {
  const results = SEEDS.map((seed) =>
    simulate({
      ...DEFAULT_SIM,
      config: DEFAULTS,
      signer,
      seed,
      failures: FAILURES,
      failureLeavesPending: true,
      clearStalePendingWhenHealthy: true,
      scheduledWithinRollout: 'handler',
      stuckRolloutShare: STUCK_SHARE,
      stuckHealShare: STUCK_SHARE,
      healer: true,
      standalone: STANDALONE,
      ...o,
    }),
  );
  return { name, results, summary: summarizeDeadMinutes(name, results) };
}

const accessKey = scenario('access key (default signer)', ACCESS_KEY);
const accessKeyHealed = scenario('access key, every heal finishes', ACCESS_KEY, { stuckHealShare: 0 });
const accessKeyHealedNoFailures = scenario('access key, every heal finishes, no failed rotation', ACCESS_KEY, {
  stuckHealShare: 0,
  failures: NO_FAILURES,
});
const accessKeyNoHealer = scenario('access key, no healer', ACCESS_KEY, { healer: false });
const accessKeyFailing = scenario('access key, guards failing createSecret (the design before)', ACCESS_KEY_FAILING);
const role = scenario('role (rotationFunctionRole)', ROLE);
const roleNoStuck = scenario('role, no stuck rollout', ROLE, { stuckRolloutShare: 0, stuckHealShare: 0 });
const ALL = [accessKey, accessKeyHealed, accessKeyHealedNoFailures, accessKeyNoHealer, accessKeyFailing, role, roleNoStuck];

beforeAll(() => {
  console.log(
    formatDeadMinutesTable(
      `Signers with the default timing — ${SEEDS.length} seeds × ${DEFAULT_SIM.durationSeconds / WEEK} weeks; ${FLEET}`,
      ALL.map((s) => s.summary),
    ),
  );
});

/**
 * Why an access-key task held a dead token: its service's rollout for the
 * next promotion was stuck and so was the heal, and the token expired before
 * a later deployment replaced the task ('stuck heal'); anything else
 * (a deleted key, a heal that finished too late) is unexplained.
 */
function causeOf(r: SimResult, e: DeadEpisode): 'stuck heal' | 'unexplained' {
  const task = r.tasks[e.taskId];
  const token = r.tokens[task.tokenId];
  const next = r.tokens.find((t) => t.promotedAt !== undefined && t.promotedAt > token.promotedAt!);
  if (task.kind !== 'service' || next === undefined || e.from !== token.expiresAt) return 'unexplained';
  const ofNext = r.deployments.filter((d) => d.service === task.service && d.rotationId === next.rotationId);
  const stuck = (kind: 'promotion' | 'heal') => ofNext.some((d) => d.kind === kind && d.stuck);
  return stuck('promotion') && stuck('heal') ? 'stuck heal' : 'unexplained';
}
const causes = (s: Scenario) => s.results.flatMap((r) => r.episodes.map((e) => causeOf(r, e)));
const refusals = (r: SimResult) => r.rotations.filter((rot) => rot.failReason !== undefined && rot.failReason.includes('key')).length;
const kept = (s: Scenario, why: 'window' | 'fleet') =>
  s.results.reduce((n, r) => n + r.rotations.filter((x) => x.keptKeys === why).length, 0);
/** Keys deleted while a running task (of a service or standalone) held a token they signed. */
function keysDeletedInUse(r: SimResult): string[] {
  return r.tasks
    .filter((t) => {
      const key = r.tokens[t.tokenId].key;
      return key !== undefined && key.deletedAt > t.startedAt && key.deletedAt < (t.stoppedAt ?? Infinity);
    })
    .map((t) => `seed ${r.options.seed} task ${t.id} key ${r.tokens[t.tokenId].key!.id}`);
}
const ACCESS_KEY_SCENARIOS = [accessKey, accessKeyHealed, accessKeyHealedNoFailures, accessKeyNoHealer];

describe('the managed access key (default signer)', () => {
  test('the model is exercised: rollouts got stuck, the healer healed once per stuck promotion and service, some heals got stuck', () => {
    for (const s of [accessKey, accessKeyHealed, accessKeyHealedNoFailures]) {
      const heals = s.results.flatMap((r) =>
        r.deployments.filter((d) => d.kind === 'heal').map((d) => `${r.options.seed}/${d.service}/${d.rotationId}`),
      );
      expect(s.summary.rollouts.promotionStuck).toBeGreaterThan(0);
      expect(s.summary.rollouts.heal).toBeGreaterThan(0);
      expect(new Set(heals).size).toBe(heals.length);
      expect(s.summary.rollouts.heal).toBeLessThanOrEqual(s.summary.rollouts.promotionStuck);
    }
    expect(accessKey.summary.rollouts.healStuck).toBeGreaterThan(0);
    expect(accessKeyNoHealer.summary.rollouts.heal).toBe(0);
  });

  test('no key is ever deleted while a running task, of a service or standalone, holds a token it signed', () => {
    for (const s of ACCESS_KEY_SCENARIOS) expect([s.name, s.results.flatMap(keysDeletedInUse)]).toEqual([s.name, []]);
  });

  test('while tasks hold the previous token, createSecret keeps every key and signs with AWSCURRENT: it never fails for it', () => {
    for (const s of ACCESS_KEY_SCENARIOS) expect([s.name, s.results.reduce((n, r) => n + refusals(r), 0)]).toEqual([s.name, 0]);
    // Services whose rollout and heal stuck made the fleet survey keep keys; a finished heal frees them within the window.
    expect(kept(accessKey, 'fleet')).toBeGreaterThan(0);
    expect(kept(accessKeyHealed, 'fleet')).toBe(0);
  });

  test('no standalone task ever holds a dead token: a task that runs minimumTaskValiditySeconds is safe', () => {
    for (const s of ACCESS_KEY_SCENARIOS) expect([s.name, s.summary.standalonePerWeek]).toEqual([s.name, 0]);
  });

  test('with every heal finishing (stuck rollouts and failed rotations included): 0 dead task-minutes', () => {
    expect(accessKeyHealed.summary.perWeek).toBe(0);
    expect(accessKeyHealed.summary.rollouts.heal).toBeGreaterThan(0);
    expect(accessKeyHealed.results.reduce((n, r) => n + r.failed, 0)).toBeGreaterThan(0);
  });

  test('with every heal finishing and no failed rotation: 0 dead task-minutes', () => {
    expect(accessKeyHealedNoFailures.summary.perWeek).toBe(0);
    expect(accessKeyHealedNoFailures.summary.rollouts.heal).toBeGreaterThan(0);
  });

  // The residue no design removes: only a new task reads a new token, and a
  // service whose rollout and heal both stick starts none. Its old tasks keep
  // their token (its key stays: no deadlock) until the next promotion's rollout
  // replaces them, and die if that token expires first.
  test('with stuck heals too: no deadlock; every dead minute is a task of a service whose rollout and heal both stuck, its token expired', () => {
    expect(accessKey.summary.perWeek).toBeGreaterThan(0);
    expect([...new Set(causes(accessKey))]).toEqual(['stuck heal']);
    expect(accessKey.summary.maxEpisodeMin).toBeLessThan(2 * 60);
    for (const r of accessKey.results) expect(r.maxConsecutiveFailures).toBeLessThanOrEqual(1);
  });

  test('the design before (guards failing createSecret) deadlocked: a stuck heal, then every rotation refused until AWSCURRENT expired', () => {
    const deadRuns = accessKeyFailing.results.filter((r) => r.deadTaskSeconds > 0);
    expect(deadRuns.length).toBeGreaterThan(0);
    for (const r of deadRuns) expect(refusals(r)).toBeGreaterThan(100);
    expect(accessKeyFailing.summary.maxEpisodeMin).toBeGreaterThan(24 * 60);
    expect(accessKeyFailing.summary.perWeek).toBeGreaterThan(100 * accessKey.summary.perWeek);
  });

  test('the healer is what keeps stuck rollouts from killing tasks: without it, more dead minutes', () => {
    expect(accessKeyNoHealer.summary.perWeek).toBeGreaterThan(10 * accessKey.summary.perWeek);
  });
});

describe('the role signer', () => {
  test('tasks hold dead tokens, stuck rollouts or not, standalone ones included, far more than with the access key', () => {
    for (const s of [role, roleNoStuck]) {
      expect(s.summary.servicePerWeek).toBeGreaterThan(0);
      expect(s.summary.standalonePerWeek).toBeGreaterThan(0);
    }
    expect(role.summary.perWeek).toBeGreaterThan(100 * accessKey.summary.perWeek);
  });

  // The warning quotes a constant rounded to two significant figures. The
  // seeds are fixed, so the figure is exactly reproducible; the tolerance is
  // the figure's own uncertainty, 2 standard errors across the runs (about 8 %):
  // a smaller difference is the rounding or noise of the seeds, a larger one
  // is a change of behaviour that the warning must follow.
  test("the synth warning's figure is the simulation's, within 2 standard errors", () => {
    const measured = role.summary.perWeek;
    const tolerance = 2 * role.summary.standardError;
    expect(tolerance).toBeLessThan(0.15 * measured);
    expect(Math.abs(ROLE_SIGNER_DEAD_TASK_MINUTES_PER_WEEK - measured)).toBeLessThanOrEqual(tolerance);
  });
});
