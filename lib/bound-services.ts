import { createHash } from 'crypto';
import { Duration, Lazy, Stack } from 'aws-cdk-lib/core';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { boundServicesParameterName } from './contract';
import { RedeployOnRotationOptions, validateDeploymentController } from './deployment-controllers';
import { literalOf, worstCaseServiceArnLength } from './service-arn-length';

/** A Standard-tier parameter value holds at most 4,096 characters. */
export const STANDARD_PARAMETER_LIMIT = 4096;
/** Past this a finishSecret would not redeploy them all within the function's timeout under ECS throttling. */
export const MAX_BOUND_SERVICES = 500;
/** CodeDeploy application and deployment group names: at most 100 characters. */
export const MAX_CODEDEPLOY_NAME_LENGTH = 100;
/** The object entry of a service bound with a deployment group, without its three values. */
const OBJECT_ENTRY_OVERHEAD = JSON.stringify({ service: '', codeDeploy: { application: '', deploymentGroup: '' } }).length;

/**
 * The ARNs of the bound services, in SSM parameters named at synth
 * (`<baseName>`, `<baseName>-2`, ...), so the rotation function does not
 * depend on the services, which are created after the first rotation.
 * A service bound with a CodeDeploy deployment group is the object
 * `{"service": "<arn>", "codeDeploy": {"application": "...", "deploymentGroup": "..."}}`
 * (lib/contract.ts CodeDeployTarget). The functions and the CLI read them
 * with core/bound-services.ts.
 *
 * Each parameter gets services while the JSON array of their entries, each
 * at its longest resolved length (lib/service-arn-length.ts; a CodeDeploy name
 * not known at synth counts 100), fits a Standard parameter. With names CloudFormation generates that is 7 services a
 * parameter (an ARN may reach about 570 characters), and 500 services take 72
 * parameters: free and fast to read, where the Advanced tier (8 KB) would
 * cost per parameter and month, only halve the count, and could not be
 * downgraded again.
 */
export class BoundServices extends Construct {
  /** How many parameters there are, resolved at synth (a token until then). */
  public readonly count: number;
  /**
   * 16 hex digits of a SHA-256 over every parameter's entries as the template holds them (a service's Ref, an
   * imported service's literal ARN, its deployment group), resolved at synth: binding, unbinding or moving a
   * service changes it, and the watchdog keeps its read of the parameters only while it is unchanged. A service
   * replaced under the same construct (a new ARN behind the same Ref) leaves it unchanged: see
   * functions/fleet-bound-services.ts for how the watchdog still sees that.
   */
  public readonly fingerprint: string;
  /** In binding order; the parameters and the redeploy policy read it at synth. */
  public readonly services: ecs.IBaseService[] = [];
  /** The deployment group of each service bound with one (CODE_DEPLOY controller). */
  public readonly deploymentGroups = new Map<ecs.IBaseService, codedeploy.IEcsDeploymentGroup>();
  /** The services of each parameter, and the longest the parameter's value can be. */
  private readonly chunks: Array<{ services: ecs.IBaseService[]; length: number }> = [];

  constructor(
    scope: Construct,
    id: string,
    private readonly baseName: string,
    reader: lambda.Function,
    /** What the deployment-controller checks compare a blue/green rollout's waits with. */
    private readonly rolloutAllowance: Duration,
  ) {
    super(scope, id);
    this.count = Lazy.number({ produce: () => this.chunks.length });
    this.fingerprint = Lazy.string({
      produce: () => {
        const entries = Stack.of(this).resolve(this.chunks.map((c) => c.services.map((s) => this.entryOf(s))));
        return createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 16);
      },
    });
    this.addParameter();
    // One statement for however many parameters: one ARN each would grow the function's policy past IAM's size limit.
    // `<base>-*` lies under this construct's own unique path.
    const arn = (name: string) => Stack.of(this).formatArn({ service: 'ssm', resource: 'parameter', resourceName: name.slice(1) });
    reader.addToRolePolicy(new iam.PolicyStatement({ actions: ['ssm:GetParameter'], resources: [arn(baseName), arn(`${baseName}-*`)] }));
    this.node.addValidation({
      validate: () =>
        this.services.length > MAX_BOUND_SERVICES
          ? [
              `redeployOnRotation: at most ${MAX_BOUND_SERVICES} services can be bound to one DsqlUrlSecret, got ` +
                `${this.services.length}; split them across several DsqlUrlSecret constructs`,
            ]
          : [],
    });
  }

  public add(service: ecs.IBaseService, options: RedeployOnRotationOptions = {}): void {
    if (this.services.includes(service)) {
      throw new Error(`redeployOnRotation: service ${service.node.path} is already bound to ${this.node.scope!.node.path}`);
    }
    validateDeploymentController(service, options, this.rolloutAllowance);
    this.services.push(service);
    const group = options.codeDeployDeploymentGroup;
    if (group !== undefined) this.deploymentGroups.set(service, group);
    const length = this.entryLength(service, group);
    let chunk = this.chunks[this.chunks.length - 1];
    if (chunk.services.length > 0 && chunk.length + length > STANDARD_PARAMETER_LIMIT) chunk = this.addParameter();
    chunk.services.push(service);
    chunk.length += length;
  }

  /** The longest the service's entry can be, with the comma after it. */
  private entryLength(service: ecs.IBaseService, group: codedeploy.IEcsDeploymentGroup | undefined): number {
    const stack = Stack.of(this);
    // Quotes and a comma around each ARN in the JSON array.
    const arn = worstCaseServiceArnLength(stack, service) + 3;
    if (group === undefined) return arn;
    const name = (value: string) => literalOf(stack, value)?.length ?? MAX_CODEDEPLOY_NAME_LENGTH;
    return OBJECT_ENTRY_OVERHEAD + arn - 2 + name(group.application.applicationName) + name(group.deploymentGroupName);
  }

  /** A service's entry: its ARN, or the object naming its deployment group too. */
  private entryOf(service: ecs.IBaseService): unknown {
    const group = this.deploymentGroups.get(service);
    if (group === undefined) return service.serviceArn;
    return {
      service: service.serviceArn,
      codeDeploy: { application: group.application.applicationName, deploymentGroup: group.deploymentGroupName },
    };
  }

  private addParameter(): { services: ecs.IBaseService[]; length: number } {
    const index = this.chunks.length;
    // `[` and `]`; the last ARN has no comma, which leaves one character of slack.
    const chunk = { services: [] as ecs.IBaseService[], length: 2 };
    this.chunks.push(chunk);
    new ssm.StringParameter(this, index === 0 ? 'Parameter' : `Parameter${index + 1}`, {
      parameterName: boundServicesParameterName(this.baseName, index),
      description: 'ECS services that cdk-dsql-url-secret redeploys after each rotation (JSON array of ARNs and CodeDeploy bindings)',
      stringValue: Lazy.string({ produce: () => Stack.of(this).toJsonString(chunk.services.map((s) => this.entryOf(s))) }),
    });
    return chunk;
  }
}
