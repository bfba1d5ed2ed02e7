import { LambdaContext, log } from '../log';

/** Wraps a function's handler so that every line it logs carries the invocation's request id. */
export function withRequestId<E, C extends object, R>(
  handler: (event: E, context?: C) => Promise<R>,
): (event: E, context?: C) => Promise<R> {
  return async (event, context) => {
    if (context !== undefined) log.addContext(context as unknown as LambdaContext);
    return handler(event, context);
  };
}
