/**
 * The two pieces of Powertools Logger we replace so that every line keeps the
 * shape the functions have always written (and the tests, alarms' runbooks and
 * operators read): one-line JSON `{ level, message, ...fields, time }` on stdout.
 */
import { Logger, LogFormatter, LogItem } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';

/**
 * Powertools drops caller keys named like its own (`service`, `level`,
 * `message`, `timestamp`, `sampling_rate`) with a warning; our callers log
 * `service` (an ECS service ARN). So the wrapper hands the caller's fields over
 * under this one key and the formatter puts them back at the top level.
 */
export const FIELDS_KEY = 'callerFields';

type Redact = (text: string) => string;

/** Applies `redact` to every string in a value: keys, values, nested objects and arrays. */
function redactDeep(value: unknown, redact: Redact): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact));
  // Errors are serialised later by Logger's JSON replacer: the printed line is redacted again.
  if (value !== null && typeof value === 'object' && !(value instanceof Error)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [redact(k), redactDeep(v, redact)]));
  }
  return value;
}

/**
 * `{ level, message, requestId?, ...persistent keys, ...fields, time }`, every
 * string redacted. Powertools' default would name the time `timestamp` and add
 * service, sampling_rate, cold_start and function_* keys to every line.
 */
export class LineFormatter extends LogFormatter {
  constructor(private readonly redact: Redact) {
    super();
  }

  formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const { [FIELDS_KEY]: fields, ...persistent } = additional;
    const line = {
      level: attributes.logLevel,
      message: attributes.message,
      // Lambda's own JSON log format calls it requestId; set by Logger.addContext(context).
      requestId: attributes.lambdaContext?.awsRequestId,
      ...persistent,
      ...(fields as LogAttributes | undefined),
      time: attributes.timestamp.toISOString(),
    };
    return new LogItem({ attributes: redactDeep(line, this.redact) as LogAttributes });
  }
}

/**
 * A Powertools Logger that writes like the functions always did. Powertools
 * prints through a Console of its own, WARN and ERROR to stderr, and
 * pretty-prints over several lines when POWERTOOLS_DEV is set. We keep one line
 * on stdout via console.log for every level (Lambda ships both streams alike;
 * tests capture console.log), and redact the serialised line once more: Error
 * values only become text here, in Logger's JSON replacer.
 */
export function createLineLogger(redact: Redact): Logger {
  // A closure, not a field: Logger's constructor already prints the warnings it buffered while starting.
  class StdoutLogger extends Logger {
    protected printLog(_logLevel: number, log: LogItem): void {
      // Not LogItem.prepareForPrint(): it would also drop '' and null values, which JSON.stringify keeps.
      console.log(redact(JSON.stringify(log.getAttributes(), this.getJsonReplacer())));
    }

    protected createLogger(options?: ConstructorParameters<typeof Logger>[0]): Logger {
      return new StdoutLogger(options); // createChild() keeps printing the same way
    }
  }
  // No logBufferOptions: a buffer flush prints through Powertools' own Console, not printLog.
  return new StdoutLogger({ logFormatter: new LineFormatter(redact) });
}
