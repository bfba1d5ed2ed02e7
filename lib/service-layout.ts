import { NestedStack, Stack, Token } from 'aws-cdk-lib/core';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Construct } from 'constructs';

/**
 * Where a bound service may live, checked when it is bound
 * (`redeployOnRotation`), so a layout CloudFormation cannot deploy, or one the
 * rotation function cannot serve, fails at synth with the layout that works.
 *
 * - Same region and account as the construct: the function redeploys with its
 *   own role, in its own region; a token is bound to one region's endpoint.
 * - The construct's stack or a NestedStack of it: the service waits for the
 *   first rotation, and the bound-services parameters and the redeploy policy
 *   (in the construct's stack) read the service's ARN. From another top-level
 *   stack each of those is a cross-stack reference the other way: a cycle.
 *   A nested stack's outputs are read by its parent after the nested stack is
 *   done, which is the order needed.
 */
export function validateServiceLayout(secret: Construct, service: ecs.IBaseService): void {
  const own = Stack.of(secret);
  const where = placeOf(service);
  for (const key of ['region', 'account'] as const) {
    const mine = own[key];
    const theirs = where[key];
    if (theirs !== undefined && !Token.isUnresolved(mine) && theirs !== mine) {
      throw new Error(
        `redeployOnRotation: service ${service.node.path} is in ${key} ${theirs}, but ${secret.node.path} is in ${key} ${mine}; ` +
          'its rotation function can redeploy services in its own region and account only. Create a DsqlUrlSecret in the ' +
          "service's region and account (with that region's cluster) and bind the service to it.",
      );
    }
  }
  const theirStack = Stack.of(service);
  if (theirStack !== own && !isNestedIn(theirStack, own)) {
    throw new Error(
      `redeployOnRotation: service ${service.node.path} is in stack ${theirStack.node.path}, but ${secret.node.path} is in ` +
        `stack ${own.node.path}. CloudFormation cannot order them: the service waits for the first rotation, and the ` +
        "construct's bound-services parameters and redeploy policy read the service's ARN (a dependency cycle). " +
        `Create the DsqlUrlSecret in ${theirStack.node.path} (its cluster may stay in ${own.node.path}), or create the ` +
        `service in ${own.node.path} or in a NestedStack of it.`,
    );
  }
}

/** The region and account the service is in, when known at synth (its ARN, or its stack's environment). */
function placeOf(service: ecs.IBaseService): { region?: string; account?: string } {
  // Only a plain string: resolving another environment's reference would fail before this check could name it.
  const fields = Token.isUnresolved(service.serviceArn) ? undefined : service.serviceArn.split(':');
  if (fields !== undefined && fields.length >= 6 && fields[0] === 'arn') return { region: fields[3], account: fields[4] };
  const known = (value: string) => (Token.isUnresolved(value) ? undefined : value);
  return { region: known(service.env.region), account: known(service.env.account) };
}

function isNestedIn(stack: Stack, ancestor: Stack): boolean {
  for (let s: Stack | undefined = stack; s !== undefined; s = s.nestedStackParent) {
    if (s === ancestor) return true;
    if (!NestedStack.isNestedStack(s)) return false;
  }
  return false;
}
