import { Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { DatabaseRole, DsqlUrlSecret } from '../lib';

/**
 * The example app: a DSQL cluster, a Fargate service whose container gets
 * DATABASE_URL from a DsqlUrlSecret, the binding that redeploys the service
 * after each rotation, and a Lambda function whose DATABASE_URL the rotation
 * rewrites after each rotation.
 */
export class ExampleStack extends Stack {
  public readonly dbUrl: DsqlUrlSecret;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const cluster = new dsql.CfnCluster(this, 'Cluster', { deletionProtectionEnabled: false });

    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      flowLogs: { all: { trafficType: ec2.FlowLogTrafficType.ALL } },
    });
    const ecsCluster = new ecs.Cluster(this, 'EcsCluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });

    this.dbUrl = new DsqlUrlSecret(this, 'DatabaseUrl', {
      cluster,
      databaseRole: DatabaseRole.ADMIN,
      rotationInterval: Duration.hours(4),
      tokenLifetime: Duration.hours(8),
      rolloutAllowance: Duration.minutes(30),
    });

    const taskDef = new ecs.FargateTaskDefinition(this, 'AppTask', { cpu: 256, memoryLimitMiB: 512 });
    taskDef.addContainer('app', {
      image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/postgres:16-alpine'),
      // Reconnects every minute with the URL from the environment, as an app would all its life.
      command: ['sh', '-c', 'while true; do psql "$DATABASE_URL" -c "select now()"; sleep 60; done'],
      secrets: { DATABASE_URL: this.dbUrl.ecsSecret() },
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'app', logRetention: logs.RetentionDays.ONE_MONTH }),
    });
    const service = new ecs.FargateService(this, 'AppService', {
      cluster: ecsCluster,
      taskDefinition: taskDef,
      desiredCount: 1,
      minHealthyPercent: 100,
      circuitBreaker: { rollback: true },
    });
    this.dbUrl.redeployOnRotation(service);

    // A Lambda consumer: DATABASE_URL is set by the binding (never by the function's own props), and rewritten after each rotation.
    const reportLogs = new logs.LogGroup(this, 'ReportFunctionLogs', { retention: logs.RetentionDays.ONE_MONTH });
    // A role of its own that writes to its own log group only, rather than AWSLambdaBasicExecutionRole's logs:* on every group.
    const reportRole = new iam.Role(this, 'ReportFunctionRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    reportLogs.grantWrite(reportRole);
    const reportFn = new lambda.Function(this, 'ReportFunction', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      // A real handler opens a pg Pool with { connectionString: process.env.DATABASE_URL } outside the handler. Once the
      // rotation's update of the configuration completes, Lambda runs invocations in instances provisioned with the new value.
      code: lambda.Code.fromInline(
        'exports.handler = async () => { const url = process.env.DATABASE_URL; return { host: url ? new URL(url).hostname : null }; };',
      ),
      timeout: Duration.seconds(30),
      logGroup: reportLogs,
      role: reportRole,
    });
    this.dbUrl.updateFunctionOnRotation(reportFn);

    // The only AwsSolutions findings on this stack, each narrowed to its resource and finding (README: What gets created).
    NagSuppressions.addResourceSuppressions(
      this.dbUrl,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "ecs:ListTasks is allowed on * only with the ecs:cluster condition naming the bound services' clusters (a policy " +
            'naming its container-instance resource was reported to deny it); the other wildcards are below.',
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
            "ecs:DescribeTasks on the tasks of the bound services' clusters (task/<cluster>/*), for the watchdog's fleet check: " +
            'task ids are assigned when ECS starts a task, so no policy can name them at deploy time.',
          appliesTo: [{ regex: '/^Resource::arn:<AWS::Partition>:ecs:.*:task\\/<[A-Za-z0-9]+>\\/\\*$/g' }],
        },
      ],
      true,
    );
    NagSuppressions.addResourceSuppressionsByPath(this, `${this.dbUrl.node.path}/Signer/Keys/Resource`, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          "The signer's access keys have no schedule of their own: they change with every rotation of the URL secret, whose " +
          "createSecret deletes the signer user's keys other than AWSCURRENT's and stores a new one; while a running task of a " +
          'bound service may still hold a token signed by a key it would delete, it keeps every key and signs with the current one.',
      },
    ]);
  }
}
