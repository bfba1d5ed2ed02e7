import { Stack, Token } from 'aws-cdk-lib/core';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Construct } from 'constructs';

/**
 * The longest a bound service's ARN can be once CloudFormation resolves it,
 * computed at synth: what holds ARNs (the bound-services parameters, the
 * redeploy policy) is sized for this, not for a typical name.
 *
 * A part known at synth counts its own length. A part still a token counts
 * its limit: CloudFormation generates cluster and service names
 * (`<stack>-<logicalId>-<suffix>`, truncated to the limit), so a generated
 * name may be as long as ECS allows.
 */

/** ECS cluster and service names: at most 255 characters. */
export const MAX_ECS_NAME_LENGTH = 255;
/** Longest partition today is `aws-us-gov` (10); room for new ones. */
const MAX_PARTITION_LENGTH = 16;
/** Longest region today is `us-isof-south-1` (15); room for new ones. */
const MAX_REGION_LENGTH = 20;
const ACCOUNT_LENGTH = 12;

/** The value as the template will hold it, when it is a plain string at synth. */
export function literalOf(stack: Stack, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!Token.isUnresolved(value)) return value;
  const resolved: unknown = stack.resolve(value);
  return typeof resolved === 'string' ? resolved : undefined;
}

/** `arn:<partition>:ecs:<region>:<account>:service/` for the stack, at its longest. */
function servicePrefixLength(stack: Stack): number {
  const partition = literalOf(stack, stack.partition)?.length ?? MAX_PARTITION_LENGTH;
  const region = literalOf(stack, stack.region)?.length ?? MAX_REGION_LENGTH;
  return 'arn:'.length + partition + ':ecs:'.length + region + 1 + ACCOUNT_LENGTH + ':service/'.length;
}

/**
 * A name given at synth: the L2's `clusterName` or `serviceName` attribute is a
 * reference (`Fn::GetAtt`) even then, so read the L1's property.
 */
function givenName(stack: Stack, resource: { node: Construct['node'] } | undefined, attribute: string | undefined): string | undefined {
  const l1 = resource?.node.defaultChild;
  const given = l1 instanceof ecs.CfnService ? l1.serviceName : l1 instanceof ecs.CfnCluster ? l1.clusterName : undefined;
  return literalOf(stack, given) ?? literalOf(stack, attribute);
}

/** The cluster name of a bound service when given at synth (imported services may have no cluster). */
export function clusterNameOf(stack: Stack, service: ecs.IBaseService): string | undefined {
  // `cluster` is typed as always set, but services imported by ARN alone leave it undefined.
  const cluster = service.cluster as ecs.ICluster | undefined;
  return givenName(stack, cluster, cluster?.clusterName);
}

function clusterNameLength(stack: Stack, service: ecs.IBaseService): number {
  return clusterNameOf(stack, service)?.length ?? MAX_ECS_NAME_LENGTH;
}

/** The longest `service.serviceArn` can resolve to. */
export function worstCaseServiceArnLength(stack: Stack, service: ecs.IBaseService): number {
  const exact = literalOf(stack, service.serviceArn);
  if (exact !== undefined) return exact.length;
  const name = givenName(stack, service, service.serviceName)?.length ?? MAX_ECS_NAME_LENGTH;
  return servicePrefixLength(stack) + clusterNameLength(stack, service) + 1 + name;
}

/** The longest `arn:...:service/<cluster>/*` for the service's cluster can resolve to. */
export function worstCaseClusterWildcardLength(stack: Stack, service: ecs.IBaseService): number {
  return servicePrefixLength(stack) + clusterNameLength(stack, service) + '/*'.length;
}
