import { IResolvable, Stack, Token } from 'aws-cdk-lib/core';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { IConstruct, IValidation } from 'constructs';

/** The only stage the rotation keeps valid. */
const CURRENT_STAGE = 'AWSCURRENT';
/** How a SecretValue of Secrets Manager resolves in a template. */
const DYNAMIC_REFERENCE = '{{resolve:secretsmanager:';

type ContainerProps = ecs.CfnTaskDefinition.ContainerDefinitionProperty;

/** What one container does with the secret. */
interface ContainerFindings {
  readonly injects: boolean;
  readonly errors: string[];
}

/**
 * Finds, at synth, every ECS task definition in the app that injects the
 * secret, and refuses the ones whose tasks could outlive their token: a task
 * reads AWSCURRENT once, at start, so each one must be replaced after every
 * rotation (a bound service) or end in time (a declared standalone task).
 * Matching is on the unresolved `valueFrom` strings: they contain the
 * secret's ARN token, in whatever stack the task definition is.
 */
export class ConsumerDiscovery implements IValidation {
  constructor(
    private readonly owner: IConstruct,
    private readonly secret: secretsmanager.ISecret,
    private readonly boundServices: readonly ecs.IBaseService[],
    private readonly standaloneTasks: readonly ecs.TaskDefinition[],
  ) {}

  public validate(): string[] {
    const all = this.owner.node.root.node.findAll();
    const errors: string[] = [];
    const injecting = new Map<ecs.TaskDefinition, string[]>();
    for (const container of all.filter((c): c is ecs.ContainerDefinition => c instanceof ecs.ContainerDefinition)) {
      const label = `container '${container.containerName}' (${container.node.path})`;
      const found = this.checkContainer(label, container, container.renderContainerDefinition());
      errors.push(...found.errors);
      if (found.injects) injecting.set(container.taskDefinition, [...(injecting.get(container.taskDefinition) ?? []), label]);
    }
    const services = all.filter((c): c is ecs.BaseService => c instanceof ecs.BaseService);
    for (const [taskDefinition, containers] of injecting) {
      const error = this.checkTaskDefinition(taskDefinition, containers, services);
      if (error) errors.push(error);
    }
    for (const cfn of all.filter((c): c is ecs.CfnTaskDefinition => c instanceof ecs.CfnTaskDefinition)) {
      if (!(cfn.node.scope instanceof ecs.TaskDefinition)) errors.push(...this.checkL1TaskDefinition(cfn));
    }
    return errors;
  }

  /** Every service that runs it must be bound; with none, it must be declared standalone. */
  private checkTaskDefinition(taskDefinition: ecs.TaskDefinition, containers: string[], services: ecs.BaseService[]): string | undefined {
    const users = services.filter((s) => s.taskDefinition === taskDefinition);
    const unbound = users.filter((s) => !this.boundServices.includes(s));
    const what = `task definition ${taskDefinition.node.path} injects this secret (${containers.join(', ')})`;
    const fixes =
      'Bind each service with redeployOnRotation(service), so that its tasks are replaced after every rotation; a task definition ' +
      'that only runs tasks started by RunTask, an EventBridge schedule or Step Functions is declared with ' +
      'addStandaloneTask(taskDefinition, { maxRunTime }) instead';
    if (unbound.length > 0) {
      return (
        `${what} and is used by ${unbound.map((s) => s.node.path).join(', ')}, not bound with redeployOnRotation: ` +
        `its tasks would keep the token they read at start until it expires. ${fixes}`
      );
    }
    if (users.length === 0 && !this.standaloneTasks.includes(taskDefinition)) {
      return (
        `${what}, but no service in the app uses it and it is not declared with addStandaloneTask: nothing ensures its tasks ` +
        `end before their token expires. ${fixes}`
      );
    }
    return undefined;
  }

  /** A CfnTaskDefinition of its own can neither be bound nor declared: refused when it injects the secret. */
  private checkL1TaskDefinition(cfn: ecs.CfnTaskDefinition): string[] {
    const definitions = cfn.containerDefinitions;
    if (!Array.isArray(definitions)) return [];
    const errors: string[] = [];
    let injects = false;
    for (const [index, definition] of definitions.entries()) {
      if (Token.isUnresolved(definition)) continue;
      const props = definition as ContainerProps;
      const found = this.checkContainer(`container '${props.name ?? index}' of ${cfn.node.path}`, cfn, props);
      errors.push(...found.errors);
      injects ||= found.injects;
    }
    if (injects) {
      errors.push(
        `the ecs.CfnTaskDefinition ${cfn.node.path} injects this secret: its services cannot be bound with redeployOnRotation ` +
          'nor its tasks declared with addStandaloneTask, so nothing replaces their token before it expires. Define it as an ' +
          'ecs.FargateTaskDefinition, Ec2TaskDefinition or ExternalTaskDefinition, run it in an ecs service, and bind that service',
      );
    }
    return errors;
  }

  private checkContainer(label: string, scope: IConstruct, props: ContainerProps): ContainerFindings {
    const arn = this.secret.secretArn;
    const errors: string[] = [];
    let injects = false;
    for (const entry of entries(props.secrets)) {
      const valueFrom = entry.valueFrom;
      const at = typeof valueFrom === 'string' ? valueFrom.indexOf(arn) : -1;
      if (at < 0) continue;
      injects = true;
      // <arn>[:<json-key>:<version-stage>:<version-id>]
      const [, stage = '', versionId = ''] = valueFrom.slice(at + arn.length + 1).split(':');
      const pinned = versionId !== '' ? `version id ${versionId}` : stage !== '' && stage !== CURRENT_STAGE ? `version stage ${stage}` : '';
      if (pinned) {
        errors.push(
          `${label} reads this secret at ${pinned} (variable ${entry.name}): only ${CURRENT_STAGE} is kept valid, an older version's ` +
            `token expires and no rotation replaces it. Inject it with ecsSecret(field), which reads ${CURRENT_STAGE}`,
        );
      }
    }
    const stack = Stack.of(scope);
    const resolvedArn = stack.resolve(arn);
    const arnText = typeof resolvedArn === 'string' ? resolvedArn : JSON.stringify(resolvedArn);
    for (const entry of entries(props.environment)) {
      if (typeof entry.value !== 'string' || !Token.isUnresolved(entry.value)) continue;
      const resolved = JSON.stringify(stack.resolve(entry.value));
      if (!resolved.includes(DYNAMIC_REFERENCE) || !resolved.includes(arnText)) continue;
      errors.push(
        `${label} has this secret's value in its plaintext environment (variable ${entry.name}, a ${DYNAMIC_REFERENCE}...}} ` +
          'dynamic reference): CloudFormation writes the value of deployment time into the task definition, where no rotation ' +
          `replaces it and anyone who can describe the task definition reads it. Use secrets: { ${entry.name}: ecsSecret('url') } instead`,
      );
    }
    return { injects, errors };
  }
}

/** The literal entries of a list property of a container definition (tokens are skipped). */
function entries<T>(list: IResolvable | Array<T | IResolvable> | undefined): T[] {
  return Array.isArray(list) ? (list.filter((e) => !Token.isUnresolved(e)) as T[]) : [];
}
