/** What AwsSolutions finds on a stack with one construct `DatabaseUrl`, the same with cdk-nag 2 and 3. */
export interface ExpectedFindingsOptions {
  /** The unique part of the construct's parameter path, `<stack>-DatabaseUrl-<hash>`. */
  readonly base: string;
  /** The default access-key signer: its keys secret has no schedule of its own. */
  readonly accessKey: boolean;
  /** Functions in a VPC: the network-interface actions on `*`. */
  readonly inVpc?: boolean;
}

const ROTATION = 'DatabaseUrl/RotationFunction/ServiceRole/DefaultPolicy/Resource';
const WATCHDOG = 'DatabaseUrl/Watchdog/Function/ServiceRole/DefaultPolicy/Resource';
const TASK_READ = 'DatabaseUrl/TaskReadPolicy/Resource';

export function expectedFindings(options: ExpectedFindingsOptions): string[] {
  const parameters = `arn:<AWS::Partition>:ssm:us-east-1:<AWS::AccountId>:parameter/cdk-dsql-url-secret/${options.base}`;
  const lines = [
    `${TASK_READ} AwsSolutions-IAM5[Resource::*]`,
    `${TASK_READ} AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:us-east-1:<AWS::AccountId>:task/<EcsCluster97242B84>/*]`,
    ...[ROTATION, WATCHDOG].flatMap((policy) => [
      `${policy} AwsSolutions-IAM5[Resource::${parameters}/bound-services-*]`,
      `${policy} AwsSolutions-IAM5[Resource::${parameters}/bound-functions-*]`,
    ]),
  ];
  if (options.accessKey) lines.push('DatabaseUrl/Signer/Keys/Resource AwsSolutions-SMG4');
  if (options.inVpc) lines.push(`${ROTATION} AwsSolutions-IAM5[Resource::*]`, `${WATCHDOG} AwsSolutions-IAM5[Resource::*]`);
  return lines.sort();
}
