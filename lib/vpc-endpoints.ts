import { Annotations, Token } from 'aws-cdk-lib/core';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

/**
 * The AWS APIs the functions in the VPC call (the rotation function all of them, the watchdog Secrets Manager),
 * each with an interface endpoint. IAM, which the access-key signer calls, has one only in us-east-1
 * (com.amazonaws.iam): elsewhere it needs NAT. DSQL connections go to the cluster's own PrivateLink
 * connection endpoint (see endpointHost). The first-rotation function runs outside any VPC.
 * A function, as is featureService: reading InterfaceVpcEndpointAwsService loads aws-ec2's endpoint module (about
 * 25 ms of CPU in every consumer's synth), which only createVpcEndpoints needs.
 */
const functionServices = (): ReadonlyArray<[id: string, service: ec2.InterfaceVpcEndpointAwsService]> => [
  ['SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
  ['Ssm', ec2.InterfaceVpcEndpointAwsService.SSM],
  ['Ecs', ec2.InterfaceVpcEndpointAwsService.ECS],
];

// A DNS host name: labels of letters, digits and hyphens, at least two of them, nothing else (no scheme, port or path).
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

/**
 * APIs only some bindings make the functions call: CodeDeploy (a CODE_DEPLOY
 * service bound with its group) and Lambda (a bound function). With
 * createVpcEndpoints, each is created with the first binding that needs it.
 */
const featureService = (feature: 'CodeDeploy' | 'Lambda'): ec2.InterfaceVpcEndpointAwsService =>
  feature === 'CodeDeploy' ? ec2.InterfaceVpcEndpointAwsService.CODEDEPLOY : ec2.InterfaceVpcEndpointAwsService.LAMBDA;

/**
 * Creates the interface endpoint for `feature` in `scope` once, when the
 * functions run in a VPC with createVpcEndpoints, and makes `dependent` (the
 * first-rotation resource, whose rotations reach the bindings) wait for it.
 */
export function ensureFeatureEndpoint(
  scope: Construct,
  network: Pick<FunctionNetworkOptions, 'vpc' | 'vpcSubnets' | 'createVpcEndpoints'>,
  feature: Parameters<typeof featureService>[0],
  dependent: Construct,
): void {
  const id = `${feature}Endpoint`;
  if (network.vpc === undefined || !network.createVpcEndpoints || scope.node.tryFindChild(id) !== undefined) return;
  const service = featureService(feature);
  dependent.node.addDependency(
    new ec2.InterfaceVpcEndpoint(scope, id, { vpc: network.vpc, service, subnets: network.vpcSubnets, privateDnsEnabled: true }),
  );
}

export interface FunctionNetworkOptions {
  readonly vpc?: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
  readonly createVpcEndpoints: boolean;
  /** The endpointHost prop: a PrivateLink host name that replaces the public one, if set. */
  readonly endpointHost?: string;
  /** The cluster's public endpoint, `<cluster-id>.dsql.<region>.on.aws`. */
  readonly publicHost: string;
  readonly clusterIdentifier: string;
  /** Whether the signer makes the rotation function call IAM (the access-key signer does). */
  readonly signerCallsIam: boolean;
}

/**
 * Checks the network props of the rotation function and the watchdog, creates
 * the interface endpoints they need when createVpcEndpoints is set, and warns
 * where CDK can tell that the chosen subnets have no path to a service.
 * Returns the endpoints created (none without createVpcEndpoints).
 */
export function setUpFunctionNetwork(scope: Construct, o: FunctionNetworkOptions): ec2.InterfaceVpcEndpoint[] {
  if (o.endpointHost !== undefined) validateEndpointHost(o.endpointHost, o.clusterIdentifier, o.vpc !== undefined);
  if (o.vpc === undefined) {
    if (o.createVpcEndpoints) {
      throw new Error('createVpcEndpoints: true needs vpc: the functions run in the VPC whose endpoints it creates; set vpc, or remove it');
    }
    return [];
  }
  const vpc = o.vpc;
  const endpoints = o.createVpcEndpoints
    ? functionServices().map(
        ([id, service]) =>
          // Private DNS: the SDK's default host names resolve to the endpoint, so the functions need no setting.
          new ec2.InterfaceVpcEndpoint(scope, `${id}Endpoint`, { vpc, service, subnets: o.vpcSubnets, privateDnsEnabled: true }),
      )
    : [];

  if (!selectsOnlyIsolatedSubnets(vpc, o.vpcSubnets)) return endpoints;
  const isolated = 'vpcSubnets selects isolated subnets (no NAT)';
  if (!o.createVpcEndpoints) {
    Annotations.of(scope).addWarningV2(
      'cdk-dsql-url-secret:vpcNoEndpoints',
      `${isolated} and createVpcEndpoints is not set: the rotation function and the watchdog cannot reach Secrets Manager, ` +
        'SSM or ECS, and every rotation will fail. Set createVpcEndpoints: true, or select subnets with NAT ' +
        '(SubnetType.PRIVATE_WITH_EGRESS); if the VPC already has interface endpoints for secretsmanager, ssm and ecs, ' +
        'acknowledge this warning.',
    );
  }
  if (o.signerCallsIam) {
    Annotations.of(scope).addWarningV2(
      'cdk-dsql-url-secret:vpcNoIamPath',
      `${isolated}: the access-key signer calls IAM (iam.amazonaws.com) at every rotation, and IAM's interface endpoint ` +
        '(com.amazonaws.iam) exists only in us-east-1. Select subnets with NAT (SubnetType.PRIVATE_WITH_EGRESS), or use ' +
        'signer: TokenSigner.rotationFunctionRole(); if the VPC routes to an IAM endpoint (Transit Gateway), acknowledge this warning.',
    );
  }
  if (o.endpointHost === undefined) {
    Annotations.of(scope).addWarningV2(
      'cdk-dsql-url-secret:vpcNoDsqlPath',
      `${isolated}: the functions cannot reach the cluster's public endpoint ${o.publicHost}. Create the cluster's PrivateLink ` +
        'connection endpoint (service name: CfnCluster.attrVpcEndpointServiceName, private DNS enabled) and set endpointHost ' +
        `to <cluster-id>.<service-identifier>.<region>.on.aws (DsqlPrivateLink.hostName(cluster) builds it); ` +
        'if the VPC has another path to the public endpoint, acknowledge this warning.',
    );
  }
  return endpoints;
}

/**
 * Whether every selected subnet is one CDK knows as isolated. Subnets it
 * cannot classify (imported by id without a type) are assumed to have a path.
 */
function selectsOnlyIsolatedSubnets(vpc: ec2.IVpc, selection: ec2.SubnetSelection | undefined): boolean {
  const selected = vpc.selectSubnets(selection).subnetIds;
  const isolated = new Set(vpc.isolatedSubnets.map((s) => s.subnetId));
  return selected.length > 0 && selected.every((id) => isolated.has(id));
}

/**
 * endpointHost must be the private DNS name of the cluster's PrivateLink
 * connection endpoint, `<cluster-id>.<service-identifier>.<region>.on.aws`:
 * DSQL identifies the cluster by the first label of the host name, and its
 * certificate matches that name. The endpoint's own DNS name
 * (`vpce-….vpce.amazonaws.com`) would need the amzn-cluster-id connection
 * option and cannot pass verify-full (DSQL PrivateLink guide), so it is refused.
 */
export function validateEndpointHost(host: string, clusterIdentifier: string, hasVpc: boolean): void {
  const fix =
    "use the private DNS name of the cluster's PrivateLink connection endpoint, <cluster-id>.<service-identifier>.<region>.on.aws " +
    '(create the endpoint with private DNS enabled; DsqlPrivateLink.hostName(cluster) builds the name)';
  if (!hasVpc) {
    throw new Error(`endpointHost needs vpc: the PrivateLink host name resolves only in the VPC of its endpoint; set vpc to that VPC`);
  }
  if (Token.isUnresolved(host)) return;
  if (!HOST_NAME.test(host)) {
    throw new Error(`endpointHost must be a host name only (no scheme, port or path), got '${host}': ${fix}`);
  }
  if (host.endsWith('.vpce.amazonaws.com')) {
    throw new Error(
      `endpointHost '${host}' is the VPC endpoint's own DNS name: DSQL would then need the amzn-cluster-id connection option ` +
        `and sslmode=verify-full could not work; ${fix}`,
    );
  }
  const firstLabel = host.split('.')[0];
  if (!Token.isUnresolved(clusterIdentifier) && firstLabel !== clusterIdentifier) {
    throw new Error(
      `endpointHost '${host}' does not start with the cluster's identifier '${clusterIdentifier}': DSQL identifies the cluster ` +
        `by the first label of the host name; ${fix}`,
    );
  }
}
