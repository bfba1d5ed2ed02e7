import * as fs from 'fs';
import * as path from 'path';
import { App, CfnElement, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import { IConstruct } from 'constructs';
import { DsqlUrlSecret } from '../../lib';
import { SecretTag } from '../../lib/secret-tags';
import {
  minimumRotationIntervalSeconds,
  minimumTaskValiditySeconds,
  minimumTokenLifetimeSeconds,
  rotateBeforeExpirySeconds,
} from '../../lib/timing';
import {
  MAX_TOKEN_LIFETIME,
  needsScheduler,
  timingBudget,
  TimingSettings,
  validateConcurrency,
  validateTiming,
} from '../../lib/validation';
import { functionConfig } from '../lib/function-config';
import { evaluateDefault, evaluateFigure, readPropDocs } from './prop-docs';

const ROOT = path.resolve(__dirname, '..', '..');
const docs = readPropDocs(path.join(ROOT, 'lib', 'dsql-url-secret-props.ts'), 'DsqlUrlSecretProps');
const doc = (prop: string) => docs.get(prop)!;
const relations = (prop: string) => doc(prop).figures.map((f) => f.relation);

type Settings = Omit<TimingSettings, 'tokenLifetime'>;
const m = (n: number) => Duration.minutes(n);
const h = (n: number) => Duration.hours(n);
/** The timing defaults as the JSDoc states them (checked against the construct below). */
const DEFAULTS: Settings = {
  rotationInterval: evaluateDefault(doc('rotationInterval').defaultText) as Duration,
  rolloutAllowance: evaluateDefault(doc('rolloutAllowance').defaultText) as Duration,
  watchdogInterval: evaluateDefault(doc('watchdogInterval').defaultText) as Duration,
};
// Samples under each kind of schedule, with each branch of a max() winning somewhere.
const NATIVE: Settings[] = [
  DEFAULTS,
  { rotationInterval: h(6), rolloutAllowance: m(45), watchdogInterval: m(15) },
  { rotationInterval: h(8), rolloutAllowance: m(1), watchdogInterval: m(1) },
];
const SCHEDULER: Settings[] = [
  { rotationInterval: h(2), rolloutAllowance: m(30), watchdogInterval: m(5) },
  { rotationInterval: m(90), rolloutAllowance: m(10), watchdogInterval: m(1) },
  { rotationInterval: h(3), rolloutAllowance: m(45), watchdogInterval: m(15) },
];
const SAMPLES = [...NATIVE, ...SCHEDULER];
const WEEK = MAX_TOKEN_LIFETIME;

const vars = (s: Settings) => ({
  rotationInterval: s.rotationInterval.toSeconds(),
  rolloutAllowance: s.rolloutAllowance.toSeconds(),
  watchdogInterval: s.watchdogInterval.toSeconds(),
});
const budget = (s: Settings) => timingBudget({ ...s, tokenLifetime: WEEK });
const figure = (prop: string, i: number, s: Settings = DEFAULTS) => evaluateFigure(doc(prop).figures[i].formula, vars(s));
const valid = (s: Partial<TimingSettings>) => () => validateTiming({ ...DEFAULTS, tokenLifetime: WEEK, ...s });

/** The props whose JSDoc states figures, each checked below. */
const CHECKED = ['rotationInterval', 'tokenLifetime', 'watchdogInterval', 'rolloutAllowance', 'redeployConcurrency'];

describe('prop JSDoc states what the validator enforces', () => {
  test('every figure stated in a prop JSDoc is checked here', () => {
    const stating = [...docs].filter(([, d]) => d.figures.length > 0).map(([name]) => name);
    expect(stating.sort()).toEqual([...CHECKED].sort());
  });

  test("rotationInterval: both minimums, their max is the validator's, and the figure with the defaults", () => {
    expect(relations('rotationInterval')).toEqual(['at least', 'at least', 'with the defaults']);
    for (const s of SAMPLES) {
      const min = minimumRotationIntervalSeconds(budget(s));
      expect(Math.max(figure('rotationInterval', 0, s), figure('rotationInterval', 1, s))).toBe(min);
      expect(valid({ ...s, rotationInterval: Duration.seconds(min) })).not.toThrow();
      expect(valid({ ...s, rotationInterval: Duration.seconds(min - 60) })).toThrow(/^rotationInterval must be at least/);
    }
    // Each branch decides somewhere: with 1-minute rollouts the failed-rotation floor wins.
    const tiny = SAMPLES[2];
    expect(figure('rotationInterval', 1, tiny)).toBeGreaterThan(figure('rotationInterval', 0, tiny));
    expect(figure('rotationInterval', 0)).toBeGreaterThan(figure('rotationInterval', 1));
    expect(figure('rotationInterval', 2)).toBe(minimumRotationIntervalSeconds(budget(DEFAULTS)));
  });

  test('tokenLifetime: the maximum, the minimum under each schedule, and the figure with the defaults', () => {
    expect(relations('tokenLifetime')).toEqual(['at most', 'at least', 'at least', 'with the defaults']);
    expect(figure('tokenLifetime', 0)).toBe(MAX_TOKEN_LIFETIME.toSeconds());
    expect(valid({ tokenLifetime: WEEK })).not.toThrow();
    expect(valid({ tokenLifetime: Duration.seconds(WEEK.toSeconds() + 1) })).toThrow(/^tokenLifetime must be at most 7 days/);
    for (const [i, samples] of [
      [1, NATIVE],
      [2, SCHEDULER],
    ] as const) {
      for (const s of samples) {
        expect(needsScheduler(s.rotationInterval)).toBe(i === 2);
        const min = minimumTokenLifetimeSeconds(budget(s));
        expect(figure('tokenLifetime', i, s)).toBe(min);
        expect(valid({ ...s, tokenLifetime: Duration.seconds(min) })).not.toThrow();
        expect(valid({ ...s, tokenLifetime: Duration.seconds(min - 1) })).toThrow(/^tokenLifetime must be at least/);
      }
    }
    expect(figure('tokenLifetime', 3)).toBe(minimumTokenLifetimeSeconds(budget(DEFAULTS)));
  });

  test('watchdogInterval: the rotate-before-expiry threshold and the range', () => {
    expect(relations('watchdogInterval')).toEqual(['sooner than', 'from', 'to']);
    for (const s of SAMPLES) expect(figure('watchdogInterval', 0, s)).toBe(rotateBeforeExpirySeconds(budget(s)));
    const [from, to] = [figure('watchdogInterval', 1), figure('watchdogInterval', 2)];
    const roomy = { rotationInterval: h(6) };
    expect(valid({ ...roomy, watchdogInterval: Duration.seconds(from) })).not.toThrow();
    expect(valid({ ...roomy, watchdogInterval: Duration.seconds(to) })).not.toThrow();
    expect(valid({ ...roomy, watchdogInterval: Duration.seconds(from - 1) })).toThrow(/^watchdogInterval must be from 1 minute to 1 hour/);
    expect(valid({ ...roomy, watchdogInterval: Duration.seconds(to + 60) })).toThrow(/^watchdogInterval must be from 1 minute to 1 hour/);
  });

  test('rolloutAllowance: the minimum, and how long after a promotion the previous token is kept', () => {
    expect(relations('rolloutAllowance')).toEqual(['at least', 'until']);
    const least = figure('rolloutAllowance', 0);
    expect(valid({ rolloutAllowance: Duration.seconds(least) })).not.toThrow();
    expect(valid({ rolloutAllowance: Duration.seconds(least - 1) })).toThrow(/^rolloutAllowance must be positive/);
    for (const s of SAMPLES) expect(figure('rolloutAllowance', 1, s)).toBe(minimumTaskValiditySeconds(budget(s)));
  });

  test('redeployConcurrency: the range', () => {
    expect(relations('redeployConcurrency')).toEqual(['from', 'to']);
    const [from, to] = doc('redeployConcurrency').figures.map((f) => evaluateFigure(f.formula, {}));
    expect(() => validateConcurrency(from)).not.toThrow();
    expect(() => validateConcurrency(to)).not.toThrow();
    expect(() => validateConcurrency(from - 1)).toThrow(/^redeployConcurrency must be a whole number from 1 to 50/);
    expect(() => validateConcurrency(to + 1)).toThrow(/^redeployConcurrency must be a whole number from 1 to 50/);
  });

  test('the figure reader refuses what it cannot read, so no figure passes unchecked', () => {
    expect(evaluateFigure('2 x rolloutAllowance + 1 hour 10 minutes + 3', { rolloutAllowance: 60 })).toBe(120 + 4200 + 3);
    expect(() => evaluateFigure('2 x rolloutAllowance', {})).toThrow("unknown name 'rolloutAllowance'");
    expect(() => evaluateFigure('a few minutes', {})).toThrow("cannot read 'a few minutes'");
  });
});

describe('prop defaults: the @default of the JSDoc, the README props table and the construct agree', () => {
  const stack = new Stack(new App(), 'Stack', { env: { account: '123456789012', region: 'us-east-1' } });
  const dbUrl = new DsqlUrlSecret(stack, 'DatabaseUrl', {
    cluster: dsql.CfnCluster.fromIdentifier(stack, 'Cluster', 'abcdefghijklmnopqrstuvwxyz'),
  });
  // Synthesized: the tags are added by an aspect.
  const resources = Template.fromStack(stack).toJSON().Resources;
  const id = (c: IConstruct) => stack.getLogicalId(c.node.defaultChild as CfnElement);
  const config = functionConfig(stack, id(dbUrl.rotationFunction)) as Record<string, number | string>;
  const tags: { Key: string; Value: string }[] = resources[id(dbUrl.secret)].Properties.Tags;
  const secondsOf = (prop: string) => (evaluateDefault(doc(prop).defaultText) as Duration).toSeconds();

  test('timing and redeploy defaults are what the construct uses when the props are left out', () => {
    expect(Number(tags.find((t) => t.Key === SecretTag.ROTATION_INTERVAL_SECONDS)!.Value)).toBe(secondsOf('rotationInterval'));
    expect(config.tokenLifetimeSeconds).toBe(secondsOf('tokenLifetime'));
    expect(config.watchdogIntervalSeconds).toBe(secondsOf('watchdogInterval'));
    expect(config.rolloutAllowanceSeconds).toBe(secondsOf('rolloutAllowance'));
    expect(config.redeployStaggerMs).toBe(secondsOf('redeployStagger') * 1000);
    expect(config.redeployConcurrency).toBe(evaluateDefault(doc('redeployConcurrency').defaultText));
    expect(config.database).toBe(evaluateDefault(doc('database').defaultText));
    expect(config.urlQuery).toBe(
      new URLSearchParams(evaluateDefault(doc('urlParameters').defaultText) as Record<string, string>).toString(),
    );
    // The figure with the defaults, as the construct computes it.
    expect(dbUrl.minimumTaskValidity.toSeconds()).toBe(figure('rolloutAllowance', 1));
  });

  test('the README props table states the same defaults', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const row = (prop: string) => new RegExp(`^\\| \`${prop}\` \\| ([^|]+) \\|`, 'm').exec(readme)?.[1].trim();
    for (const prop of ['rotationInterval', 'tokenLifetime', 'watchdogInterval', 'rolloutAllowance', 'redeployStagger']) {
      expect([prop, evaluateFigure(row(prop) ?? '(no row)', {})]).toEqual([prop, secondsOf(prop)]);
    }
    expect(Number(row('redeployConcurrency'))).toBe(evaluateDefault(doc('redeployConcurrency').defaultText));
    expect(row('database')?.replace(/`/g, '')).toBe(evaluateDefault(doc('database').defaultText));
  });
});
