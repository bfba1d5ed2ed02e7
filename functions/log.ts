/**
 * One-line JSON logs. Callers pass only identifiers and counts: no token, URL,
 * password or key ever reaches this function, and `redact` is a last line of
 * defence for error messages that come from libraries (AWS error messages can
 * name an access key id: only its last four characters are kept).
 */
export type LogFields = Record<string, string | number | boolean | undefined>;

// A presigned DSQL token always carries these query parameters.
const TOKEN_PATTERN = /[^\s"'@]*X-Amz-(Credential|Signature|Security-Token)[^\s"']*/gi;
const URL_PASSWORD_PATTERN = /(postgres(?:ql)?:\/\/[^:/\s]+:)[^@\s]+@/gi;
// Access key ids (long-term AKIA…, session ASIA…): only their last four characters may be shown.
const ACCESS_KEY_ID_PATTERN = /\b(?:AKIA|ASIA)[A-Z0-9]{12,}\b/g;

export function redact(text: string): string {
  return text.replace(URL_PASSWORD_PATTERN, '$1***@').replace(TOKEN_PATTERN, '***')
    .replace(ACCESS_KEY_ID_PATTERN, (id) => `…${id.slice(-4)}`);
}

function emit(level: 'INFO' | 'WARN' | 'ERROR', message: string, fields: LogFields = {}): void {
  const line = JSON.stringify({ level, message: redact(message), ...fields, time: new Date().toISOString() });
  // Lambda ships stdout lines to CloudWatch Logs as they are.
  console.log(redact(line));
}

export const log = {
  info: (message: string, fields?: LogFields) => emit('INFO', message, fields),
  warn: (message: string, fields?: LogFields) => emit('WARN', message, fields),
  error: (message: string, fields?: LogFields) => emit('ERROR', message, fields),
};
