import { Fn, Stack } from 'aws-cdk-lib/core';
import * as dsql from 'aws-cdk-lib/aws-dsql';

/** Aurora DSQL over AWS PrivateLink: the host name clients in the VPC connect to. */
export class DsqlPrivateLink {
  /**
   * The host name of `cluster` through its PrivateLink connection endpoint
   * created with private DNS: `<cluster-id>.<service-identifier>.<region>.on.aws`,
   * the service identifier being the last part of the cluster's VPC endpoint
   * service name (`com.amazonaws.us-east-1.dsql-fnh4` gives `dsql-fnh4`).
   * Use it as `endpointHost`. Resolves only inside the endpoint's VPC.
   * @see https://docs.aws.amazon.com/aurora-dsql/latest/userguide/privatelink-managing-clusters.html
   */
  public static hostName(cluster: dsql.CfnCluster): string {
    const serviceIdentifier = Fn.select(3, Fn.split('.', cluster.attrVpcEndpointServiceName));
    return `${cluster.attrIdentifier}.${serviceIdentifier}.${Stack.of(cluster).region}.on.aws`;
  }

  private constructor() {}
}
