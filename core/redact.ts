/**
 * The last line of defence for every line the functions log and the CLI
 * prints. Callers pass only identifiers and counts; this catches what AWS
 * error messages, driver errors or a future bug could carry: DSQL tokens,
 * URLs with a password, access key ids (only their last four characters stay)
 * and secret access keys.
 */

// A presigned DSQL token always carries these query parameters.
const TOKEN_PATTERN = /[^\s"'@]*X-Amz-(Credential|Signature|Security-Token)[^\s"']*/gi;
// postgres://user:password@host: keep the user, hide the password.
const URL_PASSWORD_PATTERN = /(postgres(?:ql)?:\/\/[^:/\s]+:)[^@\s]+@/gi;
// Access key ids (long-term AKIA…, session ASIA…).
const ACCESS_KEY_ID_PATTERN = /\b(?:AKIA|ASIA)[A-Z0-9]{12,}\b/g;
// A secret access key is 40 characters of base64; one only appears next to its name.
const SECRET_KEY_PATTERN = /((?:aws_)?secret_?access_?key["'\s:=]+)[A-Za-z0-9/+=]{30,}/gi;

export function redact(text: string): string {
  return text
    .replace(URL_PASSWORD_PATTERN, '$1***@')
    .replace(TOKEN_PATTERN, '***')
    .replace(SECRET_KEY_PATTERN, '$1***')
    .replace(ACCESS_KEY_ID_PATTERN, keySuffix);
}

/** The last four characters of an access key id: all a log line may show of it. */
export function keySuffix(accessKeyId: string): string {
  return `…${accessKeyId.slice(-4)}`;
}
