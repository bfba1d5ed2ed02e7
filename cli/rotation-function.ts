/** The secret's rotation function, as the CLI's hints name it: where to look when a rotation fails. */
import { GetFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { Clients } from './aws';

/** The function name in a Lambda ARN (`arn:aws:lambda:<region>:<account>:function:<name>`). */
export function functionNameOf(arn: string | null | undefined): string | undefined {
  return arn?.split(':')[6] || undefined;
}

/**
 * The rotation function's log group, for a hint: the construct gives each function a log group of its own, named by
 * CloudFormation, so the name is read from the function's logging configuration (lambda:GetFunctionConfiguration), only
 * when a hint needs it. Lambda's default `/aws/lambda/<name>` when the configuration names none; undefined when the ARN
 * names no function.
 */
export async function rotationLogGroup(clients: Pick<Clients, 'lambda'>, arn: string | null | undefined): Promise<string | undefined> {
  const fn = functionNameOf(arn);
  if (fn === undefined) return undefined;
  try {
    const config = await clients.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: arn! }));
    return config.LoggingConfig?.LogGroup || `/aws/lambda/${fn}`;
  } catch {
    // A hint is no reason to fail (e.g. no lambda:GetFunctionConfiguration): say where the name is instead.
    return `the log group in the logging configuration of function ${fn}`;
  }
}
