import { CfnElement, Names, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { DsqlUrlSecret } from '../../lib';

/**
 * The README's cdk-nag 3 acknowledgements (section "cdk-nag"), word for word: the body below is the README's snippet,
 * with `dbUrl` the construct and `ecsCluster` the cluster of its bound services. cdk-nag 3 matches a finding's id
 * exactly (no patterns), so the ids are built from what the findings name.
 */
export function acknowledgeForCdkNag3(dbUrl: DsqlUrlSecret, ecsCluster: ecs.Cluster): void {
  const stack = Stack.of(dbUrl);
  // cdk-nag writes a reference as <LogicalId> (a pseudo parameter as <AWS::Region>), and a known value as it is.
  const shown = (value: string, reference: string) => (Token.isUnresolved(value) ? `<${reference}>` : value);
  const [partition, region, account] = [
    shown(stack.partition, 'AWS::Partition'),
    shown(stack.region, 'AWS::Region'),
    shown(stack.account, 'AWS::AccountId'),
  ];
  // The construct's parameter path: /cdk-dsql-url-secret/<unique name>/bound-services (and -2, …), bound-functions likewise.
  const base = Names.uniqueResourceName(dbUrl, { maxLength: 160, separator: '-' });
  const parameters = `arn:${partition}:ssm:${region}:${account}:parameter/cdk-dsql-url-secret/${base}`;
  const clusterName = shown(ecsCluster.clusterName, stack.getLogicalId(ecsCluster.node.defaultChild as CfnElement));

  Validations.of(dbUrl).acknowledge(
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        "ecs:ListTasks is allowed on * only with the ecs:cluster condition naming the bound services' clusters (a policy " +
        'naming its container-instance resource was reported to deny it); with vpc, the network-interface actions Lambda ' +
        'needs to run a function in a VPC, which Describe* and DeleteNetworkInterface allow only on *.',
    },
    ...['bound-services', 'bound-functions'].map((name) => ({
      id: `AwsSolutions-IAM5[Resource::${parameters}/${name}-*]`,
      reason:
        `ssm:GetParameter(s) on this construct's own ${name} parameters (<base> and <base>-N, one path per construct): ` +
        'one ARN per parameter would fill the role policy limit at 500 services.',
    })),
    {
      // One per cluster of bound services.
      id: `AwsSolutions-IAM5[Resource::arn:${partition}:ecs:${region}:${account}:task/${clusterName}/*]`,
      reason:
        "ecs:DescribeTasks on the tasks of the bound services' cluster: task ids are assigned when ECS starts a task, so no " +
        'policy can name them at deploy time.',
    },
  );
  // With the default TokenSigner.managedAccessKey(): the secret holding the signer user's access keys.
  const keys = dbUrl.node.tryFindChild('Signer')?.node.tryFindChild('Keys');
  if (keys) {
    Validations.of(keys).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        "Rotated by the URL secret's rotation, not a schedule of its own: each createSecret creates a new access key of the " +
        'signer user and writes it here (or keeps signing with the current one while a running task still needs the other), ' +
        'and deletes the keys no running task uses.',
    });
  }
}
