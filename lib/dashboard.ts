import { Duration } from 'aws-cdk-lib/core';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, MetricName } from './contract';
import { rotateBeforeExpirySeconds, TimingBudget } from './timing';
import { fleetTokenAlarmThresholdSeconds } from './watchdog';

/** What the widgets show: the construct's functions and alarms, read when the widgets are built (after every alarm exists). */
export interface DashboardSubject extends Construct {
  readonly rotationFunction: lambda.IFunction;
  readonly watchdogFunction: lambda.IFunction;
  readonly tokenCheckAlarm: cloudwatch.IAlarm;
  readonly watchdogFailedAlarm: cloudwatch.IAlarm;
  readonly rotationFailedAlarm: cloudwatch.IAlarm;
  readonly rotationOverdueAlarm: cloudwatch.IAlarm;
  readonly fleetTokenAlarm: cloudwatch.IAlarm;
  readonly functionUpdateAlarm: cloudwatch.IAlarm;
}

export interface DashboardSettings {
  /** The `Secret` dimension the handlers emit under (functions/metrics.ts). */
  readonly metricDimension: string;
  /** The intervals, and the thresholds drawn on the token graph. */
  readonly budget: TimingBudget;
  /** The opt-in props (DsqlUrlSecretProps). */
  readonly options: { readonly createDashboard?: boolean; readonly dashboardName?: string };
}

// CloudWatch's graphs take periods of whole minutes; a day is enough to count rotations by.
const MAX_ROTATION_PERIOD_SECONDS = 86_400;
const FULL_WIDTH = 24;
const GRAPH_HEIGHT = 6;
const ID = 'Dashboard';

/**
 * The dashboard of DsqlUrlSecretProps.createDashboard, when asked for, and the widgets of
 * DsqlUrlSecret.addToDashboard. Widgets are built anew for each dashboard (a widget's position belongs
 * to one dashboard), once every alarm exists. Watchdog metrics are graphed per watchdogInterval, the
 * watchdog's own cadence; rotation metrics per rotationInterval (at most a day), so a healthy secret
 * shows one rotation a period.
 */
export class SecretDashboard extends Construct {
  /** The SecretDashboard of a DsqlUrlSecret. */
  public static of(subject: Construct): SecretDashboard {
    return subject.node.findChild(ID) as SecretDashboard;
  }

  /** The dashboard createDashboard asked for, if it did. Its default time range shows three rotations, and a day at least. */
  public readonly dashboard?: cloudwatch.Dashboard;

  constructor(
    private readonly subject: DashboardSubject,
    private readonly settings: DashboardSettings,
  ) {
    super(subject, ID);
    const { createDashboard, dashboardName } = settings.options;
    if (dashboardName !== undefined && createDashboard !== true) {
      throw new Error('dashboardName is set but createDashboard is not: set createDashboard: true, or remove dashboardName');
    }
    if (createDashboard !== true) return;
    const defaultInterval = Duration.seconds(Math.max(MAX_ROTATION_PERIOD_SECONDS, 3 * settings.budget.rotationIntervalSeconds));
    this.dashboard = new cloudwatch.Dashboard(this, 'Resource', { dashboardName, defaultInterval });
    this.addTo(this.dashboard);
  }

  /** Adds every row to `dashboard`, below what it already holds. */
  public addTo(dashboard: cloudwatch.Dashboard): void {
    for (const row of this.rows()) dashboard.addWidgets(...row);
  }

  /** Rows top to bottom: title, alarms, token validity, rotations, consumers and the watchdog. */
  public rows(): cloudwatch.IWidget[][] {
    return [[this.title()], [this.alarmStatus()], this.tokenRow(), this.rotationRow(), this.consumerRow()];
  }

  private title(): cloudwatch.IWidget {
    const markdown =
      `### Aurora DSQL URL secret ${this.subject.node.path}\n` +
      'Token seconds left saw-tooths with each rotation; the fleet line (the oldest token a running task holds) ' +
      'must stay above the fleet-token alarm line.';
    return new cloudwatch.TextWidget({ markdown, width: FULL_WIDTH, height: 2 });
  }

  private alarmStatus(): cloudwatch.IWidget {
    const s = this.subject;
    return new cloudwatch.AlarmStatusWidget({
      title: 'Alarms',
      alarms: [
        s.tokenCheckAlarm,
        s.watchdogFailedAlarm,
        s.rotationFailedAlarm,
        s.rotationOverdueAlarm,
        s.fleetTokenAlarm,
        s.functionUpdateAlarm,
      ],
      width: FULL_WIDTH,
      height: 3,
    });
  }

  private tokenRow(): cloudwatch.IWidget[] {
    const current = this.watchdogMetric(MetricName.TOKEN_SECONDS_LEFT, 'Minimum', 'AWSCURRENT token');
    const fleet = this.watchdogMetric(MetricName.FLEET_TOKEN_SECONDS_LEFT, 'Minimum', 'oldest token a running task holds');
    const graph = new cloudwatch.GraphWidget({
      title: 'Token seconds left',
      left: [current, fleet],
      leftAnnotations: [
        { value: rotateBeforeExpirySeconds(this.settings.budget), label: 'watchdog rotates below', color: cloudwatch.Color.ORANGE },
        { value: this.fleetTokenThresholdSeconds(), label: 'fleet-token alarm', color: cloudwatch.Color.RED },
      ],
      width: 16,
      height: GRAPH_HEIGHT,
    });
    const now = new cloudwatch.SingleValueWidget({ title: 'Seconds left now', metrics: [current, fleet], width: 8, height: GRAPH_HEIGHT });
    return [graph, now];
  }

  private rotationRow(): cloudwatch.IWidget[] {
    const rotationErrors = this.subject.rotationFunction.metricErrors({
      period: this.rotationPeriod(),
      statistic: 'Sum',
      label: 'failed steps',
    });
    const rotations = this.graph('Rotations', [
      this.rotationMetric(MetricName.ROTATION_SUCCEEDED, 'SampleCount', 'finished'),
      this.rotationMetric(MetricName.ROTATION_SUCCEEDED, 'Sum', 'succeeded (every consumer updated)'),
      this.rotationMetric(MetricName.WATCHDOG_ROTATION_STARTED, 'Sum', 'started by the watchdog'),
      rotationErrors,
    ]);
    const duration = new cloudwatch.GraphWidget({
      title: 'Rotation duration and new token validity (s)',
      left: [
        this.rotationMetric(MetricName.ROTATION_DURATION, 'Maximum', 'duration, longest'),
        this.rotationMetric(MetricName.ROTATION_DURATION, 'Average', 'duration, average'),
      ],
      right: [this.rotationMetric(MetricName.TOKEN_SECONDS_LEFT_AT_PROMOTION, 'Minimum', 'validity at promotion')],
      width: 8,
      height: GRAPH_HEIGHT,
    });
    const redeploys = this.graph('Service redeploys', [
      this.rotationMetric(MetricName.SERVICES_REDEPLOYED, 'Sum', 'redeployed'),
      this.rotationMetric(MetricName.REDEPLOY_FAILURES, 'Sum', 'failed'),
      this.rotationMetric(MetricName.SERVICES_NOT_FOUND, 'Sum', 'not found'),
      this.rotationMetric(MetricName.THROTTLE_RETRIES, 'Sum', 'throttled calls retried'),
    ]);
    return [rotations, duration, redeploys];
  }

  private consumerRow(): cloudwatch.IWidget[] {
    const functions = this.graph('Function updates', [
      this.rotationMetric(MetricName.FUNCTIONS_UPDATED, 'Sum', 'updated'),
      this.rotationMetric(MetricName.FUNCTION_UPDATE_FAILURES, 'Sum', 'failed'),
      this.watchdogMetric(MetricName.STALE_FUNCTIONS, 'Maximum', 'stale after the watchdog'),
    ]);
    const period = this.watchdogPeriod();
    const watchdog = this.subject.watchdogFunction;
    const checks = this.graph('Watchdog checks', [
      this.watchdogMetric(MetricName.TOKEN_CHECK_FAILED, 'SampleCount', 'URL checks'),
      this.watchdogMetric(MetricName.TOKEN_CHECK_FAILED, 'Sum', 'URL checks failed'),
      watchdog.metricInvocations({ period, statistic: 'Sum', label: 'runs' }),
      watchdog.metricErrors({ period, statistic: 'Sum', label: 'runs failed' }),
    ]);
    const fleet = this.graph('Fleet check', [
      this.watchdogMetric(MetricName.STALE_TASKS, 'Maximum', 'tasks on an older token'),
      this.watchdogMetric(MetricName.FLEET_HEALS_STARTED, 'Sum', 'heals started'),
      this.staleTasksPerService(),
    ]);
    return [functions, checks, fleet];
  }

  /** StaleTasks of each service that has any: the fleet check emits them under { Secret, Service } (functions/fleet-check.ts). */
  private staleTasksPerService(): cloudwatch.IMetric {
    const period = this.watchdogPeriod();
    const query =
      `{${METRICS_NAMESPACE},Secret,Service} MetricName="${MetricName.STALE_TASKS}" ` + `Secret="${this.settings.metricDimension}"`;
    return new cloudwatch.MathExpression({ expression: `SEARCH('${query}', 'Maximum', ${period.toSeconds()})`, period, label: '' });
  }

  private graph(title: string, left: cloudwatch.IMetric[]): cloudwatch.GraphWidget {
    return new cloudwatch.GraphWidget({ title, left, width: 8, height: GRAPH_HEIGHT });
  }

  private rotationPeriod(): Duration {
    return Duration.seconds(Math.min(this.settings.budget.rotationIntervalSeconds, MAX_ROTATION_PERIOD_SECONDS));
  }

  private watchdogPeriod(): Duration {
    return Duration.seconds(this.settings.budget.watchdogIntervalSeconds);
  }

  private fleetTokenThresholdSeconds(): number {
    const b = this.settings.budget;
    return fleetTokenAlarmThresholdSeconds(Duration.seconds(b.rolloutAllowanceSeconds), this.watchdogPeriod());
  }

  private rotationMetric(metricName: string, statistic: string, label: string): cloudwatch.Metric {
    return this.metric(metricName, statistic, label, this.rotationPeriod());
  }

  private watchdogMetric(metricName: string, statistic: string, label: string): cloudwatch.Metric {
    return this.metric(metricName, statistic, label, this.watchdogPeriod());
  }

  private metric(metricName: string, statistic: string, label: string, period: Duration): cloudwatch.Metric {
    const dimensionsMap = { Secret: this.settings.metricDimension };
    return new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap, statistic, label, period });
  }
}
