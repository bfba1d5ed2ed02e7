import { Stack, Token } from 'aws-cdk-lib/core';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { IConstruct } from 'constructs';

/**
 * Refuses, at synth, a URL secret replicated to other regions: Secrets Manager
 * copies the value as is, so a replica would carry this region's URL. Its
 * token is signed for this region's endpoint; apps in the replica's region
 * would connect across regions, lose the database with this region, and are
 * never redeployed by this secret's rotation. Checked on the rendered
 * resource, so both `addReplicaRegion()` and an escape hatch on the CfnSecret
 * (`replicaRegions`, `addPropertyOverride`) are caught.
 */
export function refuseReplicaRegions(scope: IConstruct, secret: secretsmanager.ISecret, region: string): void {
  const cfn = secret.node.defaultChild as secretsmanager.CfnSecret | undefined;
  if (cfn === undefined) return;
  scope.node.addValidation({
    validate: () => {
      const replicas = renderedReplicaRegions(cfn);
      if (replicas.length === 0) return [];
      const endpoint = Token.isUnresolved(region)
        ? "this region's endpoint"
        : `this region's endpoint (<cluster id>.dsql.${region}.on.aws)`;
      return [
        `DsqlUrlSecret ${scope.node.path}: its secret must not be replicated (ReplicaRegions ${replicas.join(', ')}, set with ` +
          "secret.addReplicaRegion() or on the CfnSecret): a replica carries this region's URL, whose token is signed for " +
          `${endpoint} and which apps in another region would reach across regions, lose with this region, and never ` +
          "be redeployed for. Remove the replica regions and create one DsqlUrlSecret per region, each with that region's " +
          'cluster (a peered cluster has its own endpoint in each region)',
      ];
    },
  });
}

/** The regions of ReplicaRegions as CloudFormation will get them (Lazy values and overrides included). */
function renderedReplicaRegions(cfn: secretsmanager.CfnSecret): string[] {
  // _toCloudFormation is what synthesis itself calls: it applies the property overrides.
  const rendered = (
    cfn as unknown as { _toCloudFormation(): { Resources: Record<string, { Properties?: Record<string, unknown> }> } }
  )._toCloudFormation();
  const resolved = Stack.of(cfn).resolve(rendered) as typeof rendered;
  const replicas = Object.values(resolved.Resources)[0]?.Properties?.ReplicaRegions;
  if (replicas === undefined || replicas === null) return [];
  if (!Array.isArray(replicas)) return [JSON.stringify(replicas)];
  return replicas.map((r) => {
    const region = (r as { Region?: unknown } | null)?.Region;
    return typeof region === 'string' ? region : JSON.stringify(region ?? r);
  });
}
