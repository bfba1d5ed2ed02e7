/** Text helpers: redaction (the last line of defence), short ids, tables. */

// A presigned DSQL token always carries these query parameters.
const TOKEN_PATTERN = /[^\s"'@]*X-Amz-(Credential|Signature|Security-Token)[^\s"']*/gi;
// postgres://user:password@host: keep the user, hide the password.
const URL_PASSWORD_PATTERN = /(postgres(?:ql)?:\/\/[^:/\s]+:)[^@\s]+@/gi;
// Access key ids (long-term AKIA…, session ASIA…): only their last four characters may be shown.
const ACCESS_KEY_ID_PATTERN = /\b(?:AKIA|ASIA)[A-Z0-9]{12,}\b/g;
// A secret access key is 40 characters of base64; one only appears next to its name.
const SECRET_KEY_PATTERN = /((?:aws_)?secret_?access_?key["'\s:=]+)[A-Za-z0-9/+=]{30,}/gi;

/**
 * Every line the CLI prints goes through this. The CLI never reads a token,
 * password or URL into anything it prints; this catches what AWS error
 * messages or a future bug could carry.
 */
export function redact(text: string): string {
  return text
    .replace(URL_PASSWORD_PATTERN, '$1***@')
    .replace(TOKEN_PATTERN, '***')
    .replace(SECRET_KEY_PATTERN, '$1***')
    .replace(ACCESS_KEY_ID_PATTERN, (id) => `…${id.slice(-4)}`);
}

/** The first 8 characters of a version id: enough to tell versions apart. */
export function shortId(id: string | undefined): string {
  return id === undefined ? '-' : id.slice(0, 8);
}

/** `ecs-svc/1234567890123456789` → `ecs-svc/12345678…`. */
export function shortDeploymentId(id: string | undefined): string {
  if (id === undefined) return '-';
  return id.length > 20 ? `${id.slice(0, 19)}…` : id;
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function table(rows: ReadonlyArray<readonly string[]>): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd());
}

/** Cuts a line to the terminal width, so a redraw never wraps and miscounts lines. */
export function fit(line: string, columns: number | undefined): string {
  if (!columns || columns < 10 || line.length <= columns) return line;
  return `${line.slice(0, columns - 1)}…`;
}

/** ISO-8601 in UTC without milliseconds. */
export function isoSeconds(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
