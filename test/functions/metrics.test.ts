import { METRICS_NAMESPACE, MetricName } from '../../lib/contract';
import { emitMetrics } from '../../functions/metrics';

describe('emitMetrics', () => {
  let logSpy: jest.SpyInstance;
  beforeEach(() => {
    logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  test('prints exactly one JSON line in embedded metric format, and returns it', () => {
    const at = new Date('2030-01-01T00:00:00.000Z');

    const line = emitMetrics(
      'app-db-url',
      [
        { name: MetricName.TOKEN_CHECK_FAILED, value: 1, unit: 'Count' },
        { name: MetricName.TOKEN_SECONDS_LEFT, value: -42, unit: 'Seconds' },
      ],
      at,
    );

    expect(logSpy).toHaveBeenCalledTimes(1);
    expect(logSpy.mock.calls[0]).toEqual([line]);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({
      _aws: {
        Timestamp: at.getTime(),
        CloudWatchMetrics: [
          {
            Namespace: METRICS_NAMESPACE,
            Dimensions: [['Secret']],
            Metrics: [
              { Name: 'TokenCheckFailed', Unit: 'Count' },
              { Name: 'TokenSecondsLeft', Unit: 'Seconds' },
            ],
          },
        ],
      },
      Secret: 'app-db-url',
      TokenCheckFailed: 1,
      TokenSecondsLeft: -42,
    });
  });

  test('with a service: the dimension set is { Secret, Service } and the line carries both values', () => {
    const at = new Date('2030-01-01T00:00:00.000Z');

    const doc = JSON.parse(emitMetrics('app-db-url', [{ name: MetricName.STALE_TASKS, value: 3, unit: 'Count' }], at, 'main/api'));

    expect(doc).toEqual({
      _aws: {
        Timestamp: at.getTime(),
        CloudWatchMetrics: [
          { Namespace: METRICS_NAMESPACE, Dimensions: [['Secret', 'Service']], Metrics: [{ Name: 'StaleTasks', Unit: 'Count' }] },
        ],
      },
      Secret: 'app-db-url',
      Service: 'main/api',
      StaleTasks: 3,
    });
  });

  test.each([NaN, Infinity, -Infinity])('a non-finite value (%s) is written as 0: EMF needs a number', (value) => {
    const doc = JSON.parse(emitMetrics('s', [{ name: 'X', value, unit: 'None' }]));

    expect(doc.X).toBe(0);
  });
});
