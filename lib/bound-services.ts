import { Lazy, Stack } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { boundServicesParameterName } from './contract';
import { worstCaseServiceArnLength } from './service-arn-length';

/** A Standard-tier parameter value holds at most 4,096 characters. */
export const STANDARD_PARAMETER_LIMIT = 4096;
/** Past this a finishSecret would not redeploy them all within the function's timeout under ECS throttling. */
export const MAX_BOUND_SERVICES = 500;

/**
 * The ARNs of the bound services, in SSM parameters named at synth
 * (`<baseName>`, `<baseName>-2`, ...), so the rotation function does not
 * depend on the services, which are created after the first rotation.
 * The functions and the CLI read them with core/bound-services.ts.
 *
 * Each parameter gets services while the JSON array of their ARNs, each at
 * its longest resolved length (lib/service-arn-length.ts), fits a Standard
 * parameter. With names CloudFormation generates that is 7 services a
 * parameter (an ARN may reach about 570 characters), and 500 services take 72
 * parameters: free and fast to read, where the Advanced tier (8 KB) would
 * cost per parameter and month, only halve the count, and could not be
 * downgraded again.
 */
export class BoundServices extends Construct {
  /** How many parameters there are, resolved at synth (a token until then). */
  public readonly count: number;
  /** In binding order; the parameters and the redeploy policy read it at synth. */
  public readonly services: ecs.IBaseService[] = [];
  /** The services of each parameter, and the longest the parameter's value can be. */
  private readonly chunks: Array<{ services: ecs.IBaseService[]; length: number }> = [];

  constructor(
    scope: Construct,
    id: string,
    private readonly baseName: string,
    reader: lambda.Function,
  ) {
    super(scope, id);
    this.count = Lazy.number({ produce: () => this.chunks.length });
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

  public add(service: ecs.IBaseService): void {
    if (this.services.includes(service)) {
      throw new Error(`redeployOnRotation: service ${service.node.path} is already bound to ${this.node.scope!.node.path}`);
    }
    this.services.push(service);
    // Quotes and a comma around each ARN in the JSON array.
    const length = worstCaseServiceArnLength(Stack.of(this), service) + 3;
    let chunk = this.chunks[this.chunks.length - 1];
    if (chunk.services.length > 0 && chunk.length + length > STANDARD_PARAMETER_LIMIT) chunk = this.addParameter();
    chunk.services.push(service);
    chunk.length += length;
  }

  private addParameter(): { services: ecs.IBaseService[]; length: number } {
    const index = this.chunks.length;
    // `[` and `]`; the last ARN has no comma, which leaves one character of slack.
    const chunk = { services: [] as ecs.IBaseService[], length: 2 };
    this.chunks.push(chunk);
    new ssm.StringParameter(this, index === 0 ? 'Parameter' : `Parameter${index + 1}`, {
      parameterName: boundServicesParameterName(this.baseName, index),
      description: 'ECS services that cdk-dsql-url-secret redeploys after each rotation (JSON array of ARNs)',
      stringValue: Lazy.string({ produce: () => Stack.of(this).toJsonString(chunk.services.map((s) => s.serviceArn)) }),
    });
    return chunk;
  }
}
