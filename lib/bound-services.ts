import { Lazy, Stack } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { boundServicesParameterName } from './contract';

/** A Standard parameter holds 4 KB; a service ARN is about 100 characters. */
export const SERVICES_PER_PARAMETER = 30;
/** Past this a finishSecret would not redeploy them all within the function's timeout under ECS throttling. */
export const MAX_BOUND_SERVICES = 500;

/**
 * The ARNs of the bound services, in SSM parameters named at synth
 * (`<baseName>`, `<baseName>-2`, ...), so the rotation function does not
 * depend on the services, which are created after the first rotation.
 * The functions and the CLI read them with core/bound-services.ts.
 */
export class BoundServices extends Construct {
  /** How many parameters there are, resolved at synth (a token until then). */
  public readonly count: number;
  /** In binding order; the parameters and the redeploy policy read it at synth. */
  public readonly services: ecs.IBaseService[] = [];

  constructor(
    scope: Construct,
    id: string,
    private readonly baseName: string,
    private readonly reader: lambda.Function,
  ) {
    super(scope, id);
    this.count = Lazy.number({ produce: () => Math.max(1, Math.ceil(this.services.length / SERVICES_PER_PARAMETER)) });
    this.addParameter(0);
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
    const chunk = Math.floor((this.services.length - 1) / SERVICES_PER_PARAMETER);
    if (chunk > 0 && this.services.length % SERVICES_PER_PARAMETER === 1) this.addParameter(chunk);
  }

  private addParameter(chunk: number): void {
    const name = boundServicesParameterName(this.baseName, chunk);
    new ssm.StringParameter(this, chunk === 0 ? 'Parameter' : `Parameter${chunk + 1}`, {
      parameterName: name,
      description: 'ECS services that cdk-dsql-url-secret redeploys after each rotation (JSON array of ARNs)',
      stringValue: Lazy.string({
        produce: () =>
          Stack.of(this).toJsonString(
            this.services.slice(chunk * SERVICES_PER_PARAMETER, (chunk + 1) * SERVICES_PER_PARAMETER).map((s) => s.serviceArn),
          ),
      }),
    });
    this.reader.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ssm:GetParameter'],
        resources: [Stack.of(this).formatArn({ service: 'ssm', resource: 'parameter', resourceName: name.slice(1) })],
      }),
    );
  }
}
