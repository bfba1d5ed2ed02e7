/**
 * One-line JSON logs, written by Powertools Logger (persistent keys, the Lambda
 * request id, log level from POWERTOOLS_LOG_LEVEL or Lambda's log-level setting)
 * in the shape the functions have always used: `{ level, message, ...fields, time }`
 * (see log-formatter.ts). Callers pass only identifiers and counts: no token,
 * URL, password or key ever reaches this module, and `redact` is a last line of
 * defence for error messages that come from libraries (AWS error messages can
 * name an access key id: only its last four characters are kept).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { redact } from '../core/redact';
import { createLineLogger, FIELDS_KEY } from './log-formatter';

export type LogFields = Record<string, string | number | boolean | undefined>;

/** The handler's second argument (the Lambda context object). */
export type LambdaContext = Parameters<Logger['addContext']>[0];

const logger = createLineLogger(redact);

export const log = {
  info: (message: string, fields: LogFields = {}) => logger.info(message, { [FIELDS_KEY]: fields }),
  warn: (message: string, fields: LogFields = {}) => logger.warn(message, { [FIELDS_KEY]: fields }),
  error: (message: string, fields: LogFields = {}) => logger.error(message, { [FIELDS_KEY]: fields }),
  /** Adds `requestId` to every later line; a handler calls it first with its Lambda context. */
  addContext: (context: LambdaContext) => logger.addContext(context),
  /** Keys on every later line of this process (e.g. the secret ARN), below the caller's fields. */
  appendPersistentKeys: (keys: LogFields) => logger.appendPersistentKeys(keys),
};
