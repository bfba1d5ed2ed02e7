import { Duration, Stack, Token } from 'aws-cdk-lib/core';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Construct } from 'constructs';

/** Options of `DsqlUrlSecret.redeployOnRotation()`. */
export interface RedeployOnRotationOptions {
  /**
   * The CodeDeploy deployment group that deploys the service. Required for a
   * service with the CODE_DEPLOY deployment controller, for which ECS refuses
   * a forced new deployment: after each rotation the rotation function starts
   * a CodeDeploy deployment of the service's current task definition in this
   * group instead. Only for CODE_DEPLOY services.
   * @default - none: the service is redeployed with `UpdateService(forceNewDeployment)`
   */
  readonly codeDeployDeploymentGroup?: codedeploy.IEcsDeploymentGroup;
}

/**
 * Added to the known waits of a blue/green rollout before they are compared
 * with rolloutAllowance: once the traffic has left the old tasks they still
 * drain for the target group's deregistration delay (300 s by default), and
 * the new tasks must start and pass their health checks before any traffic
 * moves.
 */
export const DRAIN_MARGIN = Duration.minutes(5);

/** The predefined ECS deployment configurations: how long each keeps old tasks serving while it shifts the traffic. */
const PREDEFINED_SHIFT_MINUTES: Record<string, number> = {
  'CodeDeployDefault.ECSAllAtOnce': 0,
  'CodeDeployDefault.ECSLinear10PercentEvery1Minutes': 9,
  'CodeDeployDefault.ECSLinear10PercentEvery3Minutes': 27,
  'CodeDeployDefault.ECSCanary10Percent5Minutes': 5,
  'CodeDeployDefault.ECSCanary10Percent15Minutes': 15,
};

/** ECS's defaults for the native LINEAR and CANARY strategies (LinearConfiguration, CanaryConfiguration). */
const LINEAR_DEFAULTS = { stepPercent: 10, stepBakeTimeInMinutes: 6 };
const CANARY_DEFAULT_BAKE_MINUTES = 10;

/**
 * The checks `redeployOnRotation()` makes of a service's deployment
 * controller, where the service's L1 tells it (an imported service has
 * none; the rotation function reads its controller at run time):
 *
 * - EXTERNAL: refused, nothing here can replace its tasks.
 * - CODE_DEPLOY: needs `codeDeployDeploymentGroup` (one that deploys this
 *   service), whose known waits must end within rolloutAllowance.
 * - ECS with a blue/green, linear or canary strategy: its bake times must end
 *   within rolloutAllowance.
 * - `codeDeployDeploymentGroup` for any other controller: refused.
 */
export function validateDeploymentController(
  service: ecs.IBaseService,
  options: RedeployOnRotationOptions,
  rolloutAllowance: Duration,
): void {
  const l1 = service.node.defaultChild;
  if (!(l1 instanceof ecs.CfnService)) return;
  const stack = Stack.of(service);
  const controller = known<{ type?: string }>(stack, l1.deploymentController)?.type ?? 'ECS';
  const group = options.codeDeployDeploymentGroup;
  const where = `redeployOnRotation: service ${service.node.path}`;
  if (controller === 'EXTERNAL') {
    throw new Error(
      `${where} uses the EXTERNAL deployment controller: its task sets are managed outside ECS and CodeDeploy, so the rotation ` +
        'function cannot replace its tasks after a rotation (ECS refuses forceNewDeployment for it, and no CodeDeploy ' +
        'deployment group deploys it). Use the ECS deployment controller (rolling or blue/green deploymentStrategy), or ' +
        'CODE_DEPLOY with an EcsDeploymentGroup passed as codeDeployDeploymentGroup.',
    );
  }
  if (controller === 'CODE_DEPLOY') {
    if (group === undefined) {
      throw new Error(
        `${where} uses the CODE_DEPLOY deployment controller, for which ECS refuses a forced new deployment: pass the ` +
          'EcsDeploymentGroup that deploys it, redeployOnRotation(service, { codeDeployDeploymentGroup }), so that each rotation ' +
          'starts a CodeDeploy deployment instead.',
      );
    }
    refuseOtherService(service, group, where);
    refuseLongCodeDeployWaits(Stack.of(group), group, rolloutAllowance, where);
    return;
  }
  if (group !== undefined) {
    throw new Error(
      `${where}: codeDeployDeploymentGroup is set, but the service's deployment controller is ${controller}, not CODE_DEPLOY, ` +
        'and the rotation function redeploys it with UpdateService (forceNewDeployment). Remove codeDeployDeploymentGroup, or ' +
        'give the service deploymentController: { type: ecs.DeploymentControllerType.CODE_DEPLOY }.',
    );
  }
  refuseLongBakeTimes(stack, l1, rolloutAllowance, where);
}

/**
 * A group that lists its ECS services and not this one would deploy another
 * service. The L2 lists `props.service.serviceName` as it is: the same token.
 */
function refuseOtherService(service: ecs.IBaseService, group: codedeploy.IEcsDeploymentGroup, where: string): void {
  const l1 = group.node.defaultChild;
  if (!(l1 instanceof codedeploy.CfnDeploymentGroup) || !Array.isArray(l1.ecsServices) || l1.ecsServices.length === 0) return;
  const listed = l1.ecsServices as Array<{ serviceName?: unknown } | undefined>;
  if (listed.some((s) => s === undefined || Token.isUnresolved(s) || s.serviceName === service.serviceName)) return;
  throw new Error(
    `${where}: codeDeployDeploymentGroup ${group.node.path} deploys another ECS service; pass the EcsDeploymentGroup ` +
      'created for this service (its `service` prop).',
  );
}

/**
 * The old task set serves through the approval wait and the traffic shift,
 * and stays up for terminationWaitTime after it, then drains: all of it must
 * end within rolloutAllowance, or tasks still run with the previous token.
 */
function refuseLongCodeDeployWaits(stack: Stack, group: codedeploy.IEcsDeploymentGroup, rolloutAllowance: Duration, where: string): void {
  const l1 = group.node.defaultChild;
  const blueGreen =
    l1 instanceof codedeploy.CfnDeploymentGroup
      ? known<{
          deploymentReadyOption?: { waitTimeInMinutes?: unknown };
          terminateBlueInstancesOnDeploymentSuccess?: { terminationWaitTimeInMinutes?: unknown };
        }>(stack, l1.blueGreenDeploymentConfiguration)
      : undefined;
  const approval = num(blueGreen?.deploymentReadyOption?.waitTimeInMinutes);
  const termination = num(blueGreen?.terminateBlueInstancesOnDeploymentSuccess?.terminationWaitTimeInMinutes);
  const shift = shiftMinutes(stack, group.deploymentConfig);
  const parts: string[] = [];
  if (approval > 0) parts.push(`deploymentApprovalWaitTime ${human(approval)}`);
  if (shift.minutes > 0) parts.push(`traffic shifting ${human(shift.minutes)} (${shift.name})`);
  if (termination > 0) parts.push(`terminationWaitTime ${human(termination)}`);
  const total = approval + shift.minutes + termination + DRAIN_MARGIN.toMinutes();
  if (total * 60 <= rolloutAllowance.toSeconds() || parts.length === 0) return;
  throw new Error(
    `${where}: its old tasks would outlive rolloutAllowance (${rolloutAllowance.toHumanString()}). Its deployment group ` +
      `${group.node.path} keeps them for ${parts.join(' + ')}, and they drain for about ${DRAIN_MARGIN.toHumanString()} after ` +
      `that: ${human(total)}. Lower terminationWaitTime or deploymentApprovalWaitTime, choose a faster deploymentConfig, or ` +
      `raise rolloutAllowance to at least ${human(total)}.`,
  );
}

/** How long the group's deployment configuration shifts traffic, when known at synth (predefined, or created in this app). */
function shiftMinutes(stack: Stack, config: codedeploy.IEcsDeploymentConfig): { minutes: number; name: string } {
  const name = Token.isUnresolved(config.deploymentConfigName) ? undefined : config.deploymentConfigName;
  if (name !== undefined && PREDEFINED_SHIFT_MINUTES[name] !== undefined) return { minutes: PREDEFINED_SHIFT_MINUTES[name], name };
  const l1 = Construct.isConstruct(config) ? config.node.defaultChild : undefined;
  const routing =
    l1 instanceof codedeploy.CfnDeploymentConfig
      ? known<{
          timeBasedCanary?: { canaryInterval?: unknown };
          timeBasedLinear?: { linearInterval?: unknown; linearPercentage?: unknown };
        }>(stack, l1.trafficRoutingConfig)
      : undefined;
  const label = name ?? (Construct.isConstruct(config) ? config.node.path : 'deploymentConfig');
  if (routing?.timeBasedCanary) return { minutes: num(routing.timeBasedCanary.canaryInterval), name: `canary, ${label}` };
  const linear = routing?.timeBasedLinear;
  const percentage = num(linear?.linearPercentage);
  // Shifts of `percentage` each, with `interval` between two of them: none after the last one.
  if (linear && percentage > 0) {
    return { minutes: (Math.ceil(100 / percentage) - 1) * num(linear.linearInterval), name: `linear, ${label}` };
  }
  return { minutes: 0, name: label };
}

/**
 * ECS's own blue/green, linear and canary strategies keep the old tasks
 * through the traffic shift's bake times and bakeTime after it.
 */
function refuseLongBakeTimes(stack: Stack, l1: ecs.CfnService, rolloutAllowance: Duration, where: string): void {
  const config = known<{
    strategy?: string;
    bakeTimeInMinutes?: unknown;
    linearConfiguration?: { stepPercent?: unknown; stepBakeTimeInMinutes?: unknown };
    canaryConfiguration?: { canaryBakeTimeInMinutes?: unknown };
  }>(stack, l1.deploymentConfiguration);
  const strategy = config?.strategy;
  if (strategy !== 'BLUE_GREEN' && strategy !== 'LINEAR' && strategy !== 'CANARY') return;
  const bake = num(config?.bakeTimeInMinutes);
  let steps = 0;
  let stepText = '';
  if (strategy === 'LINEAR') {
    const percent = num(config?.linearConfiguration?.stepPercent) || LINEAR_DEFAULTS.stepPercent;
    const stepBake = numberOr(config?.linearConfiguration?.stepBakeTimeInMinutes, LINEAR_DEFAULTS.stepBakeTimeInMinutes);
    // As CloudFormation counts them: no step bake time after the shift that reaches 100%.
    const count = 100 % percent === 0 ? 100 / percent - 1 : Math.floor(100 / percent);
    steps = count * stepBake;
    stepText = ` + ${count} x stepBakeTime ${human(stepBake)}`;
  } else if (strategy === 'CANARY') {
    steps = numberOr(config?.canaryConfiguration?.canaryBakeTimeInMinutes, CANARY_DEFAULT_BAKE_MINUTES);
    stepText = ` + canary bake time ${human(steps)}`;
  }
  const total = bake + steps + DRAIN_MARGIN.toMinutes();
  if (bake + steps === 0 || total * 60 <= rolloutAllowance.toSeconds()) return;
  throw new Error(
    `${where} uses ECS's ${strategy} deployment strategy, which keeps the old tasks through bakeTime ${human(bake)}${stepText}, ` +
      `and they drain for about ${DRAIN_MARGIN.toHumanString()} after that: ${human(total)}, longer than rolloutAllowance ` +
      `(${rolloutAllowance.toHumanString()}). Lower bakeTime${steps > 0 ? ' or the step bake times' : ''}, or ` +
      `raise rolloutAllowance to at least ${human(total)}.`,
  );
}

/** A property as the template will hold it, or undefined when it is (or holds) a token. */
function known<T>(stack: Stack, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  const resolved: unknown = stack.resolve(value);
  return typeof resolved === 'object' && resolved !== null ? (resolved as T) : undefined;
}

/** A number (minutes, or a percentage) known at synth; 0 when absent or a token. */
function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function human(totalMinutes: number): string {
  return Duration.minutes(totalMinutes).toHumanString();
}
