/** The secret's rotation function, as the CLI's hints name it: where to look when a rotation fails. */

/** The function name in a Lambda ARN (`arn:aws:lambda:<region>:<account>:function:<name>`). */
export function functionNameOf(arn: string | null | undefined): string | undefined {
  return arn?.split(':')[6] || undefined;
}

/** Lambda's default log group for the function; undefined when the ARN does not name one. */
export function logGroupOf(arn: string | null | undefined): string | undefined {
  const fn = functionNameOf(arn);
  return fn ? `/aws/lambda/${fn}` : undefined;
}
