import { Token } from 'aws-cdk-lib/core';

/** DSQL API Reference, ClusterSummary: `identifier` matches [a-z0-9]{26}. */
const CLUSTER_IDENTIFIER = /^[a-z0-9]{26}$/;

/**
 * The cluster's identifier goes into the endpoint host name, the ARN in the
 * signer's policy and every token. An existing cluster is usually referenced
 * with `CfnCluster.fromIdentifier(scope, id, identifier)`, where an endpoint
 * host name or an ARN is easily pasted instead: both synthesize (into a host
 * like `abc.dsql.us-east-1.on.aws.dsql.us-east-1.on.aws`) and fail only at
 * the first rotation, so they are refused at synth. Tokens pass: a CfnCluster
 * created in the app has its identifier only at deployment.
 */
export function validateClusterIdentifier(identifier: string): void {
  if (Token.isUnresolved(identifier) || CLUSTER_IDENTIFIER.test(identifier)) return;
  const given = `cluster: the cluster identifier (clusterRef.identifier) must be 26 lower-case letters and digits, got '${identifier}'`;
  const fix = (id: string) => `pass dsql.CfnCluster.fromIdentifier(this, 'Cluster', '${id}')`;
  const arnId = /^arn:[^:]+:dsql:[^:]*:[^:]*:cluster\/([^/]+)$/.exec(identifier)?.[1];
  if (identifier.startsWith('arn:')) {
    const then = arnId !== undefined ? `${fix(arnId)} (the part after 'cluster/')` : "pass the part after 'cluster/' of the ARN";
    throw new Error(`${given}, which is an ARN: ${then}`);
  }
  if (identifier.includes('.')) {
    // An endpoint host name, possibly with a scheme or a port: the identifier is its first label.
    const firstLabel = identifier.replace(/^[a-z]+:\/\//i, '').split('.')[0];
    throw new Error(`${given}, which is an endpoint host name: ${fix(firstLabel.toLowerCase())} (the host name's first label)`);
  }
  if (CLUSTER_IDENTIFIER.test(identifier.toLowerCase())) {
    throw new Error(`${given}: DSQL identifiers are lower case; ${fix(identifier.toLowerCase())}`);
  }
  throw new Error(`${given}: pass the identifier that \`aws dsql list-clusters\` or the console shows, e.g. ${fix('<identifier>')}`);
}
