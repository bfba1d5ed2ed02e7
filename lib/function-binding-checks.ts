import { Duration, NestedStack, Stack, Token } from 'aws-cdk-lib/core';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { IConstruct } from 'constructs';

/**
 * What updateFunctionOnRotation checks at synth, each refusal naming the
 * function and the fix (lib/function-consumers.ts binds).
 */

/** Lambda's own variables: it refuses them in a function's configuration (Lambda Developer Guide, "Defined runtime environment variables"). */
const RESERVED_VARIABLES = ['_HANDLER', '_X_AMZN_TRACE_ID', 'TZ'];
const RESERVED_PREFIXES = ['AWS_', 'LAMBDA_'];
/** The key pattern of the Lambda API's Environment.Variables (a letter, then at least one letter, digit or underscore). */
const VARIABLE_NAME = /^[a-zA-Z][a-zA-Z0-9_]+$/;
/** Lambda's limit for all environment variables of a function together (keys and values). */
export const ENVIRONMENT_LIMIT_BYTES = 4096;
/**
 * The shortest the URL gets, measured with functions/token.ts's format
 * (admin, postgres, sslmode=require, a public us-east-1 endpoint): 475
 * characters signed with an access key; with session credentials the
 * X-Amz-Security-Token adds the session token, percent-encoded twice (1,509
 * characters with a 900-character token, 1,865 with 1,200; Lambda's are in
 * that range). Lower bounds: this check refuses only what cannot fit; the
 * rotation function checks the real size before it writes.
 */
export const MIN_URL_LENGTH_ACCESS_KEY = 475;
export const MIN_URL_LENGTH_SESSION = 1500;

/**
 * The function as a lambda.Function of this app, in the construct's stack or
 * a NestedStack of it, and not an edge function; else an error naming why
 * and the fix.
 */
export function validateFunctionKind(owner: IConstruct, fn: lambda.IFunction): lambda.Function {
  const where = `updateFunctionOnRotation: function ${fn.node.path}`;
  if (fn instanceof cloudfront.experimental.EdgeFunction || fn.node.scope instanceof cloudfront.experimental.EdgeFunction) {
    throw new Error(
      `${where} is a Lambda@Edge function: edge functions cannot have environment variables. Read the URL from the secret ` +
        'in the function (grantRead, GetSecretValue with a short cache), or serve the database calls from a regional function.',
    );
  }
  if (fn instanceof lambda.Alias || fn instanceof lambda.Version) {
    throw new Error(`${where} is a version or an alias: bind its function, with { alias } to move an alias after each update.`);
  }
  if (!(fn instanceof lambda.Function)) {
    throw new Error(
      `${where} is not a lambda.Function defined in this app (imported, or a wrapper): the stack that defines a function owns ` +
        'its environment and would write its own value back on its next deploy. Bind the function where it is defined, with a ' +
        'DsqlUrlSecret in that stack.',
    );
  }
  if (fn.node.path.startsWith(`${owner.node.path}/`)) {
    throw new Error(`${where} belongs to ${owner.node.path} itself; bind your application's functions.`);
  }
  const own = Stack.of(owner);
  const theirs = Stack.of(fn);
  if (theirs !== own && !isNestedIn(theirs, own)) {
    const env = (['region', 'account'] as const).find(
      (k) => !Token.isUnresolved(own[k]) && !Token.isUnresolved(theirs[k]) && own[k] !== theirs[k],
    );
    throw new Error(
      `${where} is in stack ${theirs.node.path}${env ? ` (${env} ${theirs[env]})` : ''}, but ${owner.node.path} is in stack ` +
        `${own.node.path}${env ? ` (${env} ${own[env]})` : ''}. The function waits for the first rotation and the construct's ` +
        "bound-functions parameters and policy read the function's ARN: from another stack that is a dependency cycle, and the " +
        'rotation function updates functions in its own region and account only. Create the DsqlUrlSecret in ' +
        `${theirs.node.path} (its cluster may stay where it is), or the function in ${own.node.path} or a NestedStack of it.`,
    );
  }
  refuseLaterEdgeUse(fn, where);
  return fn;
}

/**
 * A function's version used as Lambda@Edge: CDK asks the function, when the
 * distribution is synthesized, to drop its variables or fail; it would
 * suggest `removeInEdge`, which would leave the function without its URL.
 */
function refuseLaterEdgeUse(fn: lambda.Function, where: string): void {
  const edgeCheck = fn as unknown as { _checkEdgeCompatibility(): void };
  edgeCheck._checkEdgeCompatibility = () => {
    throw new Error(
      `${where} is used as a Lambda@Edge function (a CloudFront distribution associates one of its versions), and edge ` +
        'functions cannot have environment variables. Do not bind it: read the URL from the secret in the function, or ' +
        'serve the database calls from a regional function.',
    );
  };
}

export function validateVariableName(fn: lambda.Function, variable: string): void {
  const reserved = RESERVED_VARIABLES.includes(variable) || RESERVED_PREFIXES.some((p) => variable.startsWith(p));
  if (!VARIABLE_NAME.test(variable) || reserved) {
    throw new Error(
      `updateFunctionOnRotation: variable '${variable}' for function ${fn.node.path} ` +
        (reserved ? `is reserved by Lambda (${RESERVED_PREFIXES.join('*, ')}*, ${RESERVED_VARIABLES.join(', ')})` : 'is not a valid name') +
        '; use a name of letters, digits and underscores starting with a letter, such as DATABASE_URL',
    );
  }
}

/**
 * For a function the rollout is its longest in-flight invocation, its
 * timeout: an invocation that started just before the update may use the old
 * URL that long, so it must fit within rolloutAllowance like an ECS rollout.
 */
export function validateFunctionTimeout(fn: lambda.Function, rolloutAllowance: Duration): void {
  // Lambda's default timeout is 3 seconds.
  const timeout = fn.timeout ?? Duration.seconds(3);
  if (timeout.toSeconds() > rolloutAllowance.toSeconds()) {
    throw new Error(
      `updateFunctionOnRotation: function ${fn.node.path} has a timeout of ${timeout.toHumanString()}, longer than ` +
        `rolloutAllowance (${rolloutAllowance.toHumanString()}): an invocation started before an update may use the old URL ` +
        "that long. Raise the DsqlUrlSecret's rolloutAllowance to at least the timeout, or lower the function's timeout.",
    );
  }
}

/**
 * Lambda's 4 KB for all variables together, when the other variables are
 * known at synth: values CloudFormation resolves (references, dynamic
 * references) count nothing, so this refuses only what can never fit.
 */
export function environmentSizeErrors(
  fn: lambda.Function,
  variable: string,
  variables: Record<string, unknown>,
  sessionSigned: boolean,
): string[] {
  const url = sessionSigned ? MIN_URL_LENGTH_SESSION : MIN_URL_LENGTH_ACCESS_KEY;
  let size = 0;
  for (const [key, value] of Object.entries(variables)) {
    size += Buffer.byteLength(key);
    if (key === variable) size += url;
    else if (typeof value === 'string' && !value.includes('{{resolve:')) size += Buffer.byteLength(value);
  }
  if (size <= ENVIRONMENT_LIMIT_BYTES) return [];
  return [
    `updateFunctionOnRotation: the environment variables of function ${fn.node.path} would take at least ${size} bytes with the ` +
      `URL in ${variable} (at least ${url} characters ${sessionSigned ? 'signed with session credentials' : 'signed with an access key'}); ` +
      `Lambda allows ${ENVIRONMENT_LIMIT_BYTES} bytes for all of them together. Move large values out of the environment ` +
      '(a parameter or a file in the bundle)' +
      (sessionSigned ? ', or sign with TokenSigner.managedAccessKey(), whose URLs are about a third as long.' : '.'),
  ];
}

function isNestedIn(stack: Stack, ancestor: Stack): boolean {
  for (let s: Stack | undefined = stack; s !== undefined; s = s.nestedStackParent) {
    if (s === ancestor) return true;
    if (!NestedStack.isNestedStack(s)) return false;
  }
  return false;
}
