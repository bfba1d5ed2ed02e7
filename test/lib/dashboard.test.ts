import { readdirSync, readFileSync } from 'fs';
import * as path from 'path';
import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { METRICS_NAMESPACE, MetricName } from '../../lib/contract';
import { DsqlUrlSecret } from '../../lib';
import { emitMetrics } from '../../functions/metrics';
import { functionConfig } from './function-config';
import { givenStack } from './stack-fixture';

interface Widget {
  type: string;
  x: number;
  y: number;
  width: number;
  height: number;
  properties: Record<string, unknown> & { title?: string; metrics?: unknown[][]; alarms?: string[]; markdown?: string };
}
interface Body {
  start?: string;
  widgets: Widget[];
}
/** One metric line of a graph: [namespace, name, dimension name, value, ..., options?]. */
interface ShownMetric {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
  options: { stat?: string; period?: number; label?: string; yAxis?: string };
  widget: string;
}

/** The dashboard body as JSON, each token written as text: @ref:<id>@, @arn:<id>@, @region@. */
function body(stack: Stack, logicalIdPrefix: string): Body {
  const found = Object.entries(Template.fromStack(stack).findResources('AWS::CloudWatch::Dashboard')).filter(([id]) =>
    id.startsWith(logicalIdPrefix),
  );
  expect(found).toHaveLength(1);
  const value = found[0][1].Properties.DashboardBody as string | { 'Fn::Join': [string, unknown[]] };
  if (typeof value === 'string') return JSON.parse(value);
  const text = value['Fn::Join'][1]
    .map((part) => {
      if (typeof part === 'string') return part;
      const p = part as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
      if (p.Ref === 'AWS::Region') return '@region@';
      if (p.Ref !== undefined) return `@ref:${p.Ref}@`;
      if (p['Fn::GetAtt']?.[1] === 'Arn') return `@arn:${p['Fn::GetAtt'][0]}@`;
      throw new Error(`unexpected token in the dashboard body: ${JSON.stringify(part)}`);
    })
    .join('');
  return JSON.parse(text);
}

function shownMetrics(b: Body): ShownMetric[] {
  return b.widgets.flatMap((w) =>
    (w.properties.metrics ?? [])
      .filter((line) => typeof line[0] === 'string')
      .map((line) => {
        const hasOptions = typeof line[line.length - 1] === 'object';
        const dims = line.slice(2, hasOptions ? -1 : undefined) as string[];
        const dimensions = Object.fromEntries(dims.flatMap((d, i) => (i % 2 === 0 ? [[d, dims[i + 1]]] : [])));
        const options = (hasOptions ? line[line.length - 1] : {}) as ShownMetric['options'];
        return { namespace: line[0] as string, name: line[1] as string, dimensions, options, widget: w.properties.title ?? w.type };
      }),
  );
}

function expressions(b: Body): string[] {
  return b.widgets
    .flatMap((w) =>
      (w.properties.metrics ?? []).flatMap((line) => line.filter((x) => typeof x === 'object' && x !== null && 'expression' in x)),
    )
    .map((x) => (x as { expression: string }).expression);
}

/** The logical id of a construct's resource, as it appears in the body's tokens. */
function logicalId(stack: Stack, token: string): string {
  const r = stack.resolve(token) as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
  return r.Ref ?? r['Fn::GetAtt']![0];
}

/**
 * Every metric name a handler puts in an EMF line: a MetricDatum literal `name: MetricName.X` in functions/.
 * Read from the source, so a metric a handler stops emitting drops out of this set.
 */
function emittedMetricNames(): { names: Set<string>; sources: string } {
  const dir = path.join(__dirname, '../../functions');
  const sources = readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');
  const keys = [...sources.matchAll(/\bname: MetricName\.([A-Z_]+)\b/g)].map((m) => m[1] as keyof typeof MetricName);
  return { names: new Set(keys.map((k) => MetricName[k])), sources };
}

describe('dashboard', () => {
  test('none unless createDashboard is set', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    Template.fromStack(stack).resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(db.dashboard).toBeUndefined();
  });

  test('dashboardName without createDashboard is refused, naming both settings', () => {
    const { stack, cluster } = givenStack();
    expect(() => new DsqlUrlSecret(stack, 'Db', { cluster, dashboardName: 'orders-db' })).toThrow(
      /dashboardName is set but createDashboard is not: set createDashboard: true, or remove dashboardName/,
    );
  });

  test('createDashboard: the title, every alarm, and one graph per subject in rows of 24', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, createDashboard: true, dashboardName: 'orders-db' });
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'orders-db' });
    expect(db.dashboard).toBeDefined();
    const b = body(stack, 'DbDashboard');
    expect(b.start).toBe('-P1D');
    expect(b.widgets.map((w) => [w.properties.title ?? w.type, w.x, w.y, w.width])).toEqual([
      ['text', 0, 0, 24],
      ['Alarms', 0, 2, 24],
      ['Token seconds left', 0, 5, 16],
      ['Seconds left now', 16, 5, 8],
      ['Rotations', 0, 11, 8],
      ['Rotation duration and new token validity (s)', 8, 11, 8],
      ['Service redeploys', 16, 11, 8],
      ['Function updates', 0, 17, 8],
      ['Watchdog checks', 8, 17, 8],
      ['Fleet check', 16, 17, 8],
    ]);
    expect(b.widgets[0].properties.markdown).toContain('TestStack/Db');
    const alarms = [
      db.tokenCheckAlarm,
      db.watchdogFailedAlarm,
      db.rotationFailedAlarm,
      db.rotationOverdueAlarm,
      db.fleetTokenAlarm,
      db.functionUpdateAlarm,
    ].map((a) => `@arn:${logicalId(stack, a.alarmArn)}@`);
    expect(b.widgets[1].properties.alarms).toEqual(alarms);
    expect(new Set(alarms).size).toBe(6);
  });

  test('every metric shown is emitted by a handler, under the namespace and { Secret } dimension the handlers use', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, createDashboard: true });
    const shown = shownMetrics(body(stack, 'DbDashboard')).filter((m) => m.namespace !== 'AWS/Lambda');
    const dimension = functionConfig(stack, 'DbRotationFunction').metricDimension as string;
    expect(functionConfig(stack, 'DbWatchdogFunction').metricDimension).toBe(dimension);
    // What emitMetrics writes for a secret-wide datum: the namespace and dimension set the dashboard must query.
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const line = JSON.parse(emitMetrics(dimension, [{ name: MetricName.TOKEN_SECONDS_LEFT, value: 1, unit: 'Seconds' }]));
    jest.restoreAllMocks();
    const directive = line._aws.CloudWatchMetrics[0] as { Namespace: string; Dimensions: string[][] };
    const { names } = emittedMetricNames();
    for (const m of shown) {
      expect({ metric: m.name, emitted: names.has(m.name) }).toEqual({ metric: m.name, emitted: true });
      expect(m.namespace).toBe(directive.Namespace);
      expect(Object.keys(m.dimensions)).toEqual(directive.Dimensions[0]);
      expect(m.dimensions.Secret).toBe(line.Secret);
    }
    // Every metric the handlers define is on the dashboard: a new one must get a widget.
    expect(new Set(shown.map((m) => m.name))).toEqual(new Set(Object.values(MetricName)));
    expect(METRICS_NAMESPACE).toBe(directive.Namespace);
  });

  test('the per-service StaleTasks search queries the { Secret, Service } set the fleet check emits, for this secret only', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, createDashboard: true });
    const dimension = functionConfig(stack, 'DbWatchdogFunction').metricDimension as string;
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const line = JSON.parse(emitMetrics(dimension, [{ name: MetricName.STALE_TASKS, value: 1, unit: 'Count' }], new Date(), 'main/api'));
    jest.restoreAllMocks();
    const set = (line._aws.CloudWatchMetrics[0].Dimensions as string[][])[0];
    expect(expressions(body(stack, 'DbDashboard'))).toEqual([
      `SEARCH('{${METRICS_NAMESPACE},${set.join(',')}} MetricName="StaleTasks" Secret="${dimension}"', 'Maximum', 300)`,
    ]);
    // The fleet check emits StaleTasks once more per service, with the service as the 4th argument.
    expect(emittedMetricNames().sources).toMatch(/emitMetrics\([^;]*name: MetricName\.STALE_TASKS[^;]*\], now, serviceName\(/);
  });

  test("Lambda metrics are the construct's own functions'; thresholds drawn are the fleet alarm's and the watchdog's", () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, createDashboard: true, rolloutAllowance: Duration.minutes(20) });
    const b = body(stack, 'DbDashboard');
    const lambdaMetrics = shownMetrics(b).filter((m) => m.namespace === 'AWS/Lambda');
    expect(lambdaMetrics.map((m) => [m.widget, m.name, m.dimensions.FunctionName, m.options.stat])).toEqual([
      ['Rotations', 'Errors', `@ref:${logicalId(stack, db.rotationFunction.functionName)}@`, 'Sum'],
      ['Watchdog checks', 'Invocations', `@ref:${logicalId(stack, db.watchdogFunction.functionName)}@`, 'Sum'],
      ['Watchdog checks', 'Errors', `@ref:${logicalId(stack, db.watchdogFunction.functionName)}@`, 'Sum'],
    ]);
    const fleetAlarm = Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm')[logicalId(stack, db.fleetTokenAlarm.alarmArn)];
    const watchdog = functionConfig(stack, 'DbWatchdogFunction');
    const annotations = (b.widgets[2].properties.annotations as { horizontal: Array<{ value: number; label: string }> }).horizontal;
    expect(annotations).toEqual([
      expect.objectContaining({ label: 'watchdog rotates below', value: watchdog.rotateBeforeExpirySeconds }),
      expect.objectContaining({ label: 'fleet-token alarm', value: fleetAlarm.Properties.Threshold }),
    ]);
  });

  test('periods follow the intervals: watchdog metrics per watchdogInterval, rotation metrics per rotationInterval up to a day', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', {
      cluster,
      createDashboard: true,
      watchdogInterval: Duration.minutes(2),
      rotationInterval: Duration.days(2),
      tokenLifetime: Duration.days(4),
    });
    const b = body(stack, 'DbDashboard');
    const period = (name: string) =>
      new Set(
        shownMetrics(b)
          .filter((m) => m.name === name)
          .map((m) => m.options.period ?? 300),
      );
    expect(period(MetricName.TOKEN_SECONDS_LEFT)).toEqual(new Set([120]));
    expect(period(MetricName.STALE_FUNCTIONS)).toEqual(new Set([120]));
    expect(period(MetricName.ROTATION_SUCCEEDED)).toEqual(new Set([86_400]));
    expect(period(MetricName.FUNCTIONS_UPDATED)).toEqual(new Set([86_400]));
    // Three rotations fit the default time range.
    expect(b.start).toBe('-P6D');
  });

  test('addToDashboard adds the widgets below what a dashboard of yours holds, once per secret', () => {
    const { stack, cluster } = givenStack();
    const first = new DsqlUrlSecret(stack, 'Orders', { cluster });
    const second = new DsqlUrlSecret(stack, 'Billing', { cluster });
    const mine = new cloudwatch.Dashboard(stack, 'Mine', { dashboardName: 'team' });
    mine.addWidgets(new cloudwatch.TextWidget({ markdown: '# Team', width: 24, height: 1 }));
    first.addToDashboard(mine);
    second.addToDashboard(mine);
    Template.fromStack(stack).resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    expect(first.dashboard).toBeUndefined();
    const b = body(stack, 'Mine');
    expect(b.widgets[0]).toMatchObject({ y: 0, properties: { markdown: '# Team' } });
    expect(b.widgets).toHaveLength(1 + 2 * 10);
    const secrets = shownMetrics(b)
      .filter((m) => m.name === MetricName.TOKEN_SECONDS_LEFT)
      .map((m) => m.dimensions.Secret);
    const dims = [first, second].map(
      (_, i) => functionConfig(stack, i === 0 ? 'OrdersRotationFunction' : 'BillingRotationFunction').metricDimension,
    );
    expect([...new Set(secrets)]).toEqual(dims);
    // The second secret's rows start where the first's end.
    expect(b.widgets[11]).toMatchObject({ type: 'text', y: 1 + 23 });
  });
});
