import { Lazy, RemovalPolicy } from 'aws-cdk-lib/core';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, IConstruct } from 'constructs';

/** How long the functions' logs are kept when `logRetention` is not set. */
export const DEFAULT_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS;

/**
 * The managed policies lambda.Function attaches to a role it creates: both allow logs:CreateLogGroup, CreateLogStream and
 * PutLogEvents on every log group of the account (and the VPC one, the ENI actions, replaced by vpcNetworkStatement).
 */
const LAMBDA_MANAGED_POLICIES = ['service-role/AWSLambdaBasicExecutionRole', 'service-role/AWSLambdaVPCAccessExecutionRole'];

/**
 * What AWSLambdaVPCAccessExecutionRole grants besides logs: Lambda creates and removes the function's network interfaces
 * with the execution role. The Lambda developer guide requires `*` for DescribeNetworkInterfaces and every resource id for
 * DeleteNetworkInterface, and Lambda checks these rights when it creates the function: the same `*` as the managed policy.
 */
const VPC_NETWORK_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];

const retentions = new WeakMap<IConstruct, logs.RetentionDays>();

/** Sets the retention of the log groups of the functions created under `scope` (the nearest setting wins). */
export function setFunctionLogRetention(scope: IConstruct, retention: logs.RetentionDays | undefined): void {
  if (retention !== undefined) retentions.set(scope, retention);
}

function retentionFor(scope: IConstruct): logs.RetentionDays {
  for (const ancestor of [...scope.node.scopes].reverse()) {
    const retention = retentions.get(ancestor);
    if (retention !== undefined) return retention;
  }
  return DEFAULT_LOG_RETENTION;
}

/**
 * The function's own log group: kept `logRetention` days and deleted with the stack. Its name is left to CloudFormation:
 * `/aws/lambda/<function name>` would make the function and its log group refer to each other, and already exists for a
 * function that ran before this log group was added (Lambda created it), which would fail the stack update.
 */
export function newFunctionLogGroup(scope: Construct, id: string): logs.LogGroup {
  return new logs.LogGroup(scope, id, { retention: retentionFor(scope), removalPolicy: RemovalPolicy.DESTROY });
}

/**
 * Replaces the managed policies lambda.Function gave `fn`'s role by statements that write to its own log group only
 * (and, in a VPC, the network-interface actions). Keeps the role itself: with TokenSigner.rotationFunctionRole() its ARN
 * is the database identity that custom roles are granted to, so a new role would lose those grants.
 */
export function scopeLogsToOwnGroup(fn: lambda.Function, logGroup: logs.ILogGroup, inVpc: boolean): void {
  const role = fn.role!;
  const cfnRole = role.node.defaultChild as iam.CfnRole;
  const managed: unknown = cfnRole.managedPolicyArns;
  // A filter over what the role renders, rather than a new list, keeps managed policies a user adds to the role later.
  cfnRole.managedPolicyArns = Lazy.uncachedList(
    {
      produce: (context) => {
        const arns = (context.resolve(managed) ?? []) as unknown[];
        const kept = arns.filter(
          (arn) => !LAMBDA_MANAGED_POLICIES.some((name) => JSON.stringify(arn).includes(`:iam::aws:policy/${name}"`)),
        );
        // Resolved ARNs are intrinsics (Fn::Join with the partition): the list is rendered as it is.
        return kept as string[];
      },
    },
    { omitEmpty: true },
  );
  // Lambda creates the log streams; the group's ARN (`…:log-group:<name>:*`) covers its streams and nothing else.
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
  );
  if (inVpc) fn.addToRolePolicy(new iam.PolicyStatement({ actions: VPC_NETWORK_ACTIONS, resources: ['*'] }));
}
