import { Fn, Lazy, Stack, Token } from 'aws-cdk-lib/core';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { MAX_CODEDEPLOY_NAME_LENGTH } from './bound-services';
import { clusterNameOf, literalOf, worstCaseClusterWildcardLength, worstCaseServiceArnLength } from './service-arn-length';

/**
 * This policy's share of IAM's 10,240 characters for all of a role's inline
 * policies; the rest is for the function's own statements (test/lib
 * bound-services-scale.test.ts checks the sum for 500 services with the
 * longest names).
 */
export const REDEPLOY_POLICY_BUDGET = 5000;
export const TASK_DEFINITION_KEY = 'ecs:task-definition';
export const CAPACITY_PROVIDER_KEY = 'ecs:capacity-provider';
/**
 * The document around the resources: version, effect, the two actions, their condition (90), and the DescribeServices
 * statement of CODE_DEPLOY services (80).
 */
const POLICY_OVERHEAD = 330;
/** Each CodeDeploy statement around its resources: effect and actions. */
const CODEDEPLOY_STATEMENT_OVERHEAD = 160;
/** `arn:<partition>:codedeploy:<region>:<account>:` at its longest (as lib/service-arn-length.ts counts ECS's). */
const MAX_PARTITION_LENGTH = 16;
const MAX_REGION_LENGTH = 20;

/** The bound services and the deployment group of those with one, read when the policy is synthesized (lib/bound-services.ts). */
export interface RedeployTargets {
  readonly services: readonly ecs.IBaseService[];
  readonly deploymentGroups: ReadonlyMap<ecs.IBaseService, codedeploy.IEcsDeploymentGroup>;
}

/**
 * Lets the rotation function (and any other role added) redeploy the bound
 * services. A policy of its own, written at synth when every service is
 * known: the function must not depend on the services, which depend on the
 * first rotation, which depends on the function.
 *
 * It names each service while their ARNs, at their longest resolved length
 * (lib/service-arn-length.ts), fit REDEPLOY_POLICY_BUDGET; else each
 * cluster's services (`service/<cluster>/*`); more clusters than that is an
 * error at synth naming the fix.
 *
 * For services bound with a CodeDeploy deployment group (CODE_DEPLOY
 * controller), and only then, it also allows what a deployment of an
 * AppSpecContent revision needs, as AWS's own ECS deploy action lists it
 * (aws-actions/amazon-ecs-deploy-task-definition): CreateDeployment and
 * ListDeployments on each deployment group (not GetDeployment: the handlers
 * find a group's deployments with ListDeployments' filters alone),
 * RegisterApplicationRevision on its application (CodeDeploy records the
 * revision), GetDeploymentConfig on its deployment configuration. No
 * iam:PassRole: the task definition is not registered again, and the
 * deployment group's own service role starts the new task set.
 */
export class RedeployPermissions extends Construct {
  private readonly roles: iam.IRole[];

  /**
   * @param roles the roles that get the policy (more with addRole)
   * @param targets the bound services, read when the policy is synthesized
   */
  constructor(
    scope: Construct,
    id: string,
    roles: readonly iam.IRole[],
    private readonly targets: RedeployTargets,
  ) {
    super(scope, id);
    this.roles = [...roles];
    new iam.CfnPolicy(this, 'Resource', {
      policyName: Lazy.string({ produce: () => `redeploy-${this.node.addr.slice(0, 16)}` }),
      roles: Lazy.list({ produce: () => this.roles.map((r) => r.roleName) }),
      policyDocument: Lazy.any({ produce: () => this.document().toJSON() }),
    });
    this.node.addValidation({ validate: () => this.validateSize() });
  }

  /** Gives `role` the same policy (IAM counts it against each role's inline-policy limit). */
  public addRole(role: iam.IRole): void {
    if (!this.roles.includes(role)) this.roles.push(role);
  }

  private document(): iam.PolicyDocument {
    const statements: iam.PolicyStatement[] = [];
    if (this.fitsByArn()) {
      // CODE_DEPLOY services get a CodeDeploy deployment, never UpdateService (functions/redeploy.ts): only read.
      const [codeDeploy, rolling] = partition(this.targets.services, (s) => this.targets.deploymentGroups.has(s));
      if (rolling.length > 0) statements.push(redeployStatement(rolling.map((s) => s.serviceArn)));
      if (codeDeploy.length > 0) {
        statements.push(new iam.PolicyStatement({ actions: ['ecs:DescribeServices'], resources: codeDeploy.map((s) => s.serviceArn) }));
      }
    } else {
      // Per cluster, CODE_DEPLOY services are covered too; ECS refuses their forced deployment.
      statements.push(redeployStatement(this.byCluster().map((c) => c.wildcard)));
    }
    const cd = this.codeDeployResources();
    if (cd.groups.length > 0) {
      statements.push(
        new iam.PolicyStatement({
          // No GetDeployment: the handlers find a group's deployments with ListDeployments' status filter alone.
          actions: ['codedeploy:CreateDeployment', 'codedeploy:ListDeployments'],
          resources: cd.groups,
        }),
        new iam.PolicyStatement({ actions: ['codedeploy:RegisterApplicationRevision'], resources: cd.applications }),
        new iam.PolicyStatement({ actions: ['codedeploy:GetDeploymentConfig'], resources: cd.configs }),
      );
    }
    return new iam.PolicyDocument({ statements });
  }

  /** Each distinct deployment group, application and deployment configuration ARN of the bound groups. */
  private codeDeployResources(): { groups: string[]; applications: string[]; configs: string[] } {
    const stack = Stack.of(this);
    const distinct = (arns: string[]) => [...new Map(arns.map((a) => [JSON.stringify(stack.resolve(a)), a])).values()];
    const groups = [...this.targets.deploymentGroups.values()];
    return {
      groups: distinct(groups.map((g) => g.deploymentGroupArn)),
      applications: distinct(groups.map((g) => g.application.applicationArn)),
      configs: distinct(groups.map((g) => g.deploymentConfig.deploymentConfigArn)),
    };
  }

  /** The CodeDeploy statements at their longest: each ARN's resolved length at most, three statements. */
  private codeDeployLength(): number {
    const groups = [...this.targets.deploymentGroups.values()];
    if (groups.length === 0) return 0;
    const stack = Stack.of(this);
    const prefix =
      'arn:'.length +
      (literalOf(stack, stack.partition)?.length ?? MAX_PARTITION_LENGTH) +
      ':codedeploy:'.length +
      (literalOf(stack, stack.region)?.length ?? MAX_REGION_LENGTH) +
      ':123456789012:'.length;
    const name = (value: string) => literalOf(stack, value)?.length ?? MAX_CODEDEPLOY_NAME_LENGTH;
    // Quotes and a comma around each ARN; distinct ones only, as document() writes them.
    const arns = (values: Array<{ arn: string; length: number }>) =>
      sum([...new Map(values.map((v) => [JSON.stringify(stack.resolve(v.arn)), v.length + 3])).values()]);
    return (
      3 * CODEDEPLOY_STATEMENT_OVERHEAD +
      arns(
        groups.map((g) => ({
          arn: g.deploymentGroupArn,
          length: prefix + 'deploymentgroup:'.length + name(g.application.applicationName) + 1 + name(g.deploymentGroupName),
        })),
      ) +
      arns(
        groups.map((g) => ({
          arn: g.application.applicationArn,
          length: prefix + 'application:'.length + name(g.application.applicationName),
        })),
      ) +
      arns(
        groups.map((g) => ({
          arn: g.deploymentConfig.deploymentConfigArn,
          length: prefix + 'deploymentconfig:'.length + name(g.deploymentConfig.deploymentConfigName),
        })),
      )
    );
  }

  private fitsByArn(): boolean {
    const stack = Stack.of(this);
    const ecsLength = sum(this.targets.services.map((s) => worstCaseServiceArnLength(stack, s) + 3));
    return POLICY_OVERHEAD + ecsLength + this.codeDeployLength() <= REDEPLOY_POLICY_BUDGET;
  }

  /** One `service/<cluster>/*` per distinct cluster: one name given at synth, or one cluster construct. */
  private byCluster(): Array<{ wildcard: string; length: number }> {
    const stack = Stack.of(this);
    const clusters = new Map<string, { wildcard: string; length: number }>();
    for (const s of this.targets.services) {
      // Services imported by ARN alone have no cluster: the ARN names it.
      const cluster = s.cluster as ecs.ICluster | undefined;
      const name = cluster?.clusterName ?? clusterFromArn(s.serviceArn);
      // Not the resolved reference: clusters in two nested stacks can have the same logical id.
      const key = clusterNameOf(stack, s) ?? cluster?.node.path ?? s.serviceArn;
      if (clusters.has(key)) continue;
      clusters.set(key, {
        wildcard: stack.formatArn({ service: 'ecs', resource: 'service', resourceName: `${name}/*` }),
        length: worstCaseClusterWildcardLength(stack, s) + 3,
      });
    }
    return [...clusters.values()];
  }

  private validateSize(): string[] {
    if (this.fitsByArn()) return [];
    const clusters = this.byCluster();
    const codeDeploy = this.codeDeployLength();
    const length = POLICY_OVERHEAD + sum(clusters.map((c) => c.length)) + codeDeploy;
    if (length <= REDEPLOY_POLICY_BUDGET) return [];
    const groups = codeDeploy > 0 ? ` and ${this.targets.deploymentGroups.size} CodeDeploy deployment groups` : '';
    return [
      `redeployOnRotation: the ${this.targets.services.length} services bound to ${this.node.scope!.node.path} are in ` +
        `${clusters.length} ECS clusters${groups}; the rotation function's redeploy policy names each cluster${groups ? ' and group' : ''} ` +
        `and would need up to ${length} characters (IAM allows 10,240 for all of a role's inline policies; this policy may use ` +
        `${REDEPLOY_POLICY_BUDGET}). A cluster whose name CloudFormation generates counts 255 characters (a CodeDeploy ` +
        'application or group name 100): give the clusters names (clusterName), or bind their services to several ' +
        'DsqlUrlSecret constructs.',
    ];
  }
}

/**
 * UpdateService and DescribeServices on `resources`. The handlers send UpdateService with cluster, service and forceNewDeployment
 * only: the condition denies one that names a task definition or a capacity provider strategy (the request keys
 * ecs:task-definition and ecs:capacity-provider the Service Authorization Reference lists for UpdateService; absent from a
 * request without them, and from DescribeServices). What else an UpdateService may change (desired count, network,
 * deployment configuration) has no condition key.
 */
function redeployStatement(resources: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: ['ecs:UpdateService', 'ecs:DescribeServices'],
    resources,
    conditions: { Null: { [TASK_DEFINITION_KEY]: 'true', [CAPACITY_PROVIDER_KEY]: 'true' } },
  });
}

function partition<T>(values: readonly T[], test: (value: T) => boolean): [T[], T[]] {
  return [values.filter(test), values.filter((v) => !test(v))];
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** The cluster in `arn:...:service/<cluster>/<service>`. */
function clusterFromArn(serviceArn: string): string {
  if (Token.isUnresolved(serviceArn)) return Fn.select(1, Fn.split('/', serviceArn));
  const cluster = serviceArn.split(':').slice(5).join(':').split('/')[1];
  if (!cluster)
    throw new Error(`redeployOnRotation: '${serviceArn}' is not an ECS service ARN in the long format (service/<cluster>/<service>)`);
  return cluster;
}
