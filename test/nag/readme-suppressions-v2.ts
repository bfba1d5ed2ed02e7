import { NagSuppressions } from 'cdk-nag';
import { DsqlUrlSecret } from '../../lib';

/**
 * The README's cdk-nag 2 suppressions (section "cdk-nag"), word for word: the body below is the README's snippet, with
 * `dbUrl` the construct. Each names one finding and the resources it applies to, so that a new wildcard still shows.
 */
export function suppressForCdkNag2(dbUrl: DsqlUrlSecret): void {
  NagSuppressions.addResourceSuppressions(
    dbUrl,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          "ecs:ListTasks is allowed on * only with the ecs:cluster condition naming the bound services' clusters (a policy " +
          'naming its container-instance resource was reported to deny it); with vpc, the network-interface actions Lambda ' +
          'needs to run a function in a VPC, which Describe* and DeleteNetworkInterface allow only on *.',
        appliesTo: ['Resource::*'],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          "ssm:GetParameter(s) on this construct's own bound-services and bound-functions parameters (<base> and <base>-N, one " +
          'path per construct): one ARN per parameter would fill the role policy limit at 500 services.',
        appliesTo: [
          { regex: '/^Resource::arn:<AWS::Partition>:ssm:.*:parameter\\/cdk-dsql-url-secret\\/.*\\/bound-(services|functions)-\\*$/g' },
        ],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          "ecs:DescribeTasks on the tasks of the bound services' clusters (task/<cluster>/*): task ids are assigned when ECS " +
          'starts a task, so no policy can name them at deploy time.',
        appliesTo: [{ regex: '/^Resource::arn:<AWS::Partition>:ecs:.*:task\\/.*\\/\\*$/g' }],
      },
    ],
    true,
  );
  // With the default TokenSigner.managedAccessKey(): the secret holding the signer user's access keys.
  const keys = dbUrl.node.tryFindChild('Signer')?.node.tryFindChild('Keys');
  if (keys) {
    NagSuppressions.addResourceSuppressions(
      keys,
      [
        {
          id: 'AwsSolutions-SMG4',
          reason:
            "Rotated by the URL secret's rotation, not a schedule of its own: each createSecret creates a new access key of the " +
            'signer user and writes it here (or keeps signing with the current one while a running task still needs the other), ' +
            'and deletes the keys no running task uses.',
        },
      ],
      true,
    );
  }
}
