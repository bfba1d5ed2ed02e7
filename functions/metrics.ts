import { METRICS_NAMESPACE } from '../lib/contract';

/** A CloudWatch unit this package uses. */
export type MetricUnit = 'Count' | 'Seconds' | 'None';

export interface MetricDatum {
  readonly name: string;
  readonly value: number;
  readonly unit: MetricUnit;
}

/**
 * Writes one CloudWatch embedded-metric-format line to stdout: Lambda ships it
 * to CloudWatch Logs, which extracts the metrics (namespace METRICS_NAMESPACE,
 * dimension `Secret`, or `Secret` and `Service` when `service` is given, for
 * per-service data). No API call, no permission needed. Returns the line.
 *
 * Not Powertools Metrics: it adds a `service` dimension to every metric unless
 * cleared (the alarms match exactly `{ Secret }`), publishes nothing when
 * POWERTOOLS_DEV is set, writes NaN as null, and bypasses console.log; the
 * workarounds would leave it a serializer of this one line, for 16 KiB more.
 */
export function emitMetrics(secretDimension: string, data: readonly MetricDatum[], now: Date = new Date(), service?: string): string {
  const document: Record<string, unknown> = {
    _aws: {
      Timestamp: now.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [service === undefined ? ['Secret'] : ['Secret', 'Service']],
          Metrics: data.map((d) => ({ Name: d.name, Unit: d.unit })),
        },
      ],
    },
    Secret: secretDimension,
    ...(service === undefined ? {} : { Service: service }),
  };
  for (const d of data) {
    // EMF values must be finite numbers.
    document[d.name] = Number.isFinite(d.value) ? d.value : 0;
  }
  const line = JSON.stringify(document);
  console.log(line);
  return line;
}
