import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { DsqlPrivateLink, DsqlUrlSecret, DsqlUrlSecretProps, TokenSigner } from '../../lib';
import { functionConfig } from './function-config';

const REGION = 'eu-west-1';
const CLUSTER_ID = 'abcdefghijklmnopqrstuvwxyz';
const PRIVATE_HOST = `${CLUSTER_ID}.dsql-fnh4.${REGION}.on.aws`;

/** A stack with a VPC whose private subnets are isolated (no NAT) or have NAT, and an existing cluster. */
function givenVpcStack(subnetType: ec2.SubnetType) {
  const stack = new Stack(new App(), 'TestStack', { env: { account: '123456789012', region: REGION } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    maxAzs: 2,
    natGateways: subnetType === ec2.SubnetType.PRIVATE_WITH_EGRESS ? 1 : 0,
    subnetConfiguration: [
      { name: 'public', subnetType: ec2.SubnetType.PUBLIC },
      { name: 'app', subnetType },
    ],
  });
  const cluster = dsql.CfnCluster.fromIdentifier(stack, 'Cluster', CLUSTER_ID);
  return { stack, vpc, cluster };
}

function warnings(stack: Stack, id: string) {
  return Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp(`\\[ack: cdk-dsql-url-secret:${id}\\]`));
}

function functionIds(stack: Stack, prefix: string): string[] {
  return Object.keys(Template.fromStack(stack).findResources('AWS::Lambda::Function')).filter((id) => id.startsWith(prefix));
}

describe('createVpcEndpoints', () => {
  test('creates interface endpoints with private DNS for Secrets Manager, SSM and ECS, and the first rotation waits for them', () => {
    // GIVEN
    const { stack, vpc, cluster } = givenVpcStack(ec2.SubnetType.PRIVATE_ISOLATED);
    // WHEN (the role signer: the access-key signer also needs a path to IAM, see the warnings below)
    new DsqlUrlSecret(stack, 'Db', {
      cluster,
      vpc,
      createVpcEndpoints: true,
      endpointHost: PRIVATE_HOST,
      signer: TokenSigner.rotationFunctionRole(),
    });
    // THEN
    const t = Template.fromStack(stack);
    const endpoints = t.findResources('AWS::EC2::VPCEndpoint');
    const services = Object.values(endpoints).map((e) => e.Properties.ServiceName);
    expect(services.sort()).toEqual([
      `com.amazonaws.${REGION}.ecs`,
      `com.amazonaws.${REGION}.secretsmanager`,
      `com.amazonaws.${REGION}.ssm`,
    ]);
    for (const e of Object.values(endpoints)) {
      expect(e.Properties).toMatchObject({ VpcEndpointType: 'Interface', PrivateDnsEnabled: true });
      // One subnet per Availability Zone, the functions' (isolated) ones.
      expect(e.Properties.SubnetIds).toHaveLength(2);
    }
    // Reachable on 443 from the VPC.
    t.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: [
        Match.objectLike({ FromPort: 443, ToPort: 443, CidrIp: { 'Fn::GetAtt': [Match.stringLikeRegexp('Vpc'), 'CidrBlock'] } }),
      ],
    });
    const initial = Object.values(t.findResources('Custom::DsqlUrlSecretInitialRotation'))[0];
    for (const id of Object.keys(endpoints)) expect(initial.DependsOn).toContain(id);
    // Nothing left to warn about: the endpoints and the PrivateLink host are the path.
    for (const id of ['vpcNoEndpoints', 'vpcNoDsqlPath', 'vpcNoIamPath']) expect(warnings(stack, id)).toHaveLength(0);
  });

  test('the rotation function and the watchdog run in the chosen subnets; the first-rotation function outside any VPC', () => {
    const { stack, vpc, cluster } = givenVpcStack(ec2.SubnetType.PRIVATE_ISOLATED);
    new DsqlUrlSecret(stack, 'Db', { cluster, vpc, createVpcEndpoints: true, endpointHost: PRIVATE_HOST });
    const fns = Template.fromStack(stack).findResources('AWS::Lambda::Function');
    for (const prefix of ['DbRotationFunction', 'DbWatchdogFunction']) {
      const [id] = functionIds(stack, prefix);
      expect(fns[id].Properties.VpcConfig.SubnetIds).toHaveLength(2);
    }
    const [initial] = functionIds(stack, 'DbInitialRotationFunction');
    expect(fns[initial].Properties.VpcConfig).toBeUndefined();
  });

  test('without vpc it is refused, naming the prop', () => {
    const { stack, cluster } = givenVpcStack(ec2.SubnetType.PRIVATE_ISOLATED);
    expect(() => new DsqlUrlSecret(stack, 'Db', { cluster, createVpcEndpoints: true })).toThrow(/createVpcEndpoints: true needs vpc/);
  });

  test('without it no endpoint is created', () => {
    const { stack, vpc, cluster } = givenVpcStack(ec2.SubnetType.PRIVATE_WITH_EGRESS);
    new DsqlUrlSecret(stack, 'Db', { cluster, vpc });
    Template.fromStack(stack).resourceCountIs('AWS::EC2::VPCEndpoint', 0);
  });
});

describe('warnings for subnets without a path', () => {
  const role = TokenSigner.rotationFunctionRole();
  const cases: Array<[string, Partial<DsqlUrlSecretProps>, string[]]> = [
    ['isolated subnets, nothing else', { signer: role }, ['vpcNoEndpoints', 'vpcNoDsqlPath']],
    ['isolated subnets with endpoints', { createVpcEndpoints: true, signer: role }, ['vpcNoDsqlPath']],
    [
      'isolated subnets with endpoints and the PrivateLink host',
      { createVpcEndpoints: true, endpointHost: PRIVATE_HOST, signer: role },
      [],
    ],
    ['isolated subnets and the default signer', { createVpcEndpoints: true, endpointHost: PRIVATE_HOST }, ['vpcNoIamPath']],
    [
      'isolated subnets and the access-key signer',
      { createVpcEndpoints: true, endpointHost: PRIVATE_HOST, signer: TokenSigner.managedAccessKey() },
      ['vpcNoIamPath'],
    ],
  ];
  test.each(cases)('%s', (_name, props, expected) => {
    const { stack, vpc, cluster } = givenVpcStack(ec2.SubnetType.PRIVATE_ISOLATED);
    new DsqlUrlSecret(stack, 'Db', { cluster, vpc, ...props });
    for (const id of ['vpcNoEndpoints', 'vpcNoDsqlPath', 'vpcNoIamPath']) {
      expect(warnings(stack, id)).toHaveLength(expected.includes(id) ? 1 : 0);
    }
  });

  test('the warnings name the props and the fix', () => {
    const { stack, vpc, cluster } = givenVpcStack(ec2.SubnetType.PRIVATE_ISOLATED);
    new DsqlUrlSecret(stack, 'Db', { cluster, vpc, signer: TokenSigner.managedAccessKey() });
    const text = (id: string) => String(warnings(stack, id)[0].entry.data);
    expect(text('vpcNoEndpoints')).toMatch(/createVpcEndpoints: true.*SubnetType\.PRIVATE_WITH_EGRESS/);
    expect(text('vpcNoIamPath')).toMatch(/com\.amazonaws\.iam\) exists only in us-east-1.*TokenSigner\.rotationFunctionRole\(\)/);
    expect(text('vpcNoDsqlPath')).toContain(`${CLUSTER_ID}.dsql.${REGION}.on.aws`);
    expect(text('vpcNoDsqlPath')).toMatch(/attrVpcEndpointServiceName.*endpointHost.*DsqlPrivateLink\.hostName\(cluster\)/);
  });

  test('subnets with NAT, or no VPC at all: no warning', () => {
    const withNat = givenVpcStack(ec2.SubnetType.PRIVATE_WITH_EGRESS);
    new DsqlUrlSecret(withNat.stack, 'Db', { cluster: withNat.cluster, vpc: withNat.vpc, signer: TokenSigner.managedAccessKey() });
    const noVpc = givenVpcStack(ec2.SubnetType.PRIVATE_ISOLATED);
    new DsqlUrlSecret(noVpc.stack, 'Db', { cluster: noVpc.cluster });
    for (const stack of [withNat.stack, noVpc.stack]) {
      expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('cdk-dsql-url-secret:vpc'))).toHaveLength(0);
    }
  });
});

describe('endpointHost', () => {
  test('replaces the host the rotation function signs for and puts in the URL', () => {
    const { stack, vpc, cluster } = givenVpcStack(ec2.SubnetType.PRIVATE_ISOLATED);
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, vpc, createVpcEndpoints: true, endpointHost: PRIVATE_HOST });
    expect(db.host).toBe(PRIVATE_HOST);
    expect(functionConfig(stack, 'DbRotationFunction')).toMatchObject({ host: PRIVATE_HOST });
  });

  test('without it the host is the public endpoint', () => {
    const { stack, vpc, cluster } = givenVpcStack(ec2.SubnetType.PRIVATE_WITH_EGRESS);
    new DsqlUrlSecret(stack, 'Db', { cluster, vpc });
    expect(functionConfig(stack, 'DbRotationFunction')).toMatchObject({ host: `${CLUSTER_ID}.dsql.${REGION}.on.aws` });
  });

  test.each([
    [`https://${PRIVATE_HOST}`, /host name only \(no scheme, port or path\)/],
    [`${PRIVATE_HOST}:5432`, /host name only \(no scheme, port or path\)/],
    ['vpce-04037adb76c111221-d849uc2p.dsql-fnh4.eu-west-1.vpce.amazonaws.com', /the VPC endpoint's own DNS name.*amzn-cluster-id/],
    [`othercluster.dsql-fnh4.${REGION}.on.aws`, /does not start with the cluster's identifier 'abcdefghijklmnopqrstuvwxyz'/],
  ])('%s is refused', (endpointHost, message) => {
    const { stack, vpc, cluster } = givenVpcStack(ec2.SubnetType.PRIVATE_WITH_EGRESS);
    expect(() => new DsqlUrlSecret(stack, 'Db', { cluster, vpc, endpointHost })).toThrow(message);
  });

  test('without vpc it is refused: the name resolves only in the endpoint VPC', () => {
    const { stack, cluster } = givenVpcStack(ec2.SubnetType.PRIVATE_WITH_EGRESS);
    expect(() => new DsqlUrlSecret(stack, 'Db', { cluster, endpointHost: PRIVATE_HOST })).toThrow(/endpointHost needs vpc/);
  });
});

describe('DsqlPrivateLink.hostName', () => {
  test('is <cluster-id>.<service identifier from the VPC endpoint service name>.<region>.on.aws', () => {
    const stack = new Stack(new App(), 'TestStack', { env: { account: '123456789012', region: REGION } });
    const cluster = new dsql.CfnCluster(stack, 'Cluster', {});
    expect(stack.resolve(DsqlPrivateLink.hostName(cluster))).toEqual({
      'Fn::Join': [
        '',
        [
          { 'Fn::GetAtt': ['Cluster', 'Identifier'] },
          '.',
          { 'Fn::Select': [3, { 'Fn::Split': ['.', { 'Fn::GetAtt': ['Cluster', 'VpcEndpointServiceName'] }] }] },
          `.${REGION}.on.aws`,
        ],
      ],
    });
  });
});
