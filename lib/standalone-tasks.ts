import { Duration } from 'aws-cdk-lib/core';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { grantCurrentRead } from './current-version';
import { ConsumerDiscovery } from './consumer-discovery';
import { SignerKind } from './contract';
import { minimumRotationIntervalSeconds, minimumTaskValiditySeconds, minimumTokenLifetimeSeconds, TimingBudget } from './timing';
import { TokenSigner } from './token-signer';

/**
 * A task that reads the secret when it starts and is never redeployed: started
 * by RunTask, an EventBridge schedule (ecs_patterns.ScheduledFargateTask) or
 * Step Functions.
 */
export interface StandaloneTaskOptions {
  /**
   * The longest a task of this definition runs, from its start until it
   * stops. It must be at most the DsqlUrlSecret's minimumTaskValidity
   * (rolloutAllowance): the token the task read at start must outlive it.
   * Enforce it on the task too (a timeout in the task's code, or the state
   * machine's TimeoutSeconds), as nothing stops a task that runs longer.
   *
   * Why rolloutAllowance: the watchdog rotates when AWSCURRENT has less than
   * rotateBeforeExpiry = rolloutAllowance + watchdogInterval + 15 minutes +
   * 5 minutes left; it notices up to one watchdogInterval late, a failed
   * rotation blocks a new one for 15 minutes until its pending version is
   * stale, and a rotation takes up to 5 minutes. So a new token is promoted
   * while the old one still has rotateBeforeExpiry - watchdogInterval -
   * 15 min - 5 min = rolloutAllowance left, and the access key that signed
   * it is kept for rolloutAllowance after that promotion.
   */
  readonly maxRunTime: Duration;
}

const ID = 'StandaloneTasks';
const human = (seconds: number) => Duration.seconds(seconds).toHumanString();

export interface StandaloneTasksSettings {
  readonly secret: secretsmanager.ISecret;
  readonly signer: TokenSigner;
  readonly budget: TimingBudget;
  /** Read at synth, once every service is bound. */
  readonly bound: { readonly services: readonly ecs.IBaseService[] };
  /** What runs the first rotation: no declared task may start before it. */
  readonly initialRotation: { readonly resource: Construct };
}

/**
 * The task definitions declared with DsqlUrlSecret.addStandaloneTask, checked
 * against the timing budget as they are added, and the synth-time check that
 * every task definition injecting the secret is bound or declared.
 */
export class StandaloneTasks extends Construct {
  /** The one in `owner` (a DsqlUrlSecret). */
  public static of(owner: Construct): StandaloneTasks {
    return owner.node.findChild(ID) as StandaloneTasks;
  }

  /** Read by consumer discovery at synth. */
  public readonly taskDefinitions: ecs.TaskDefinition[] = [];
  private readonly secret: secretsmanager.ISecret;
  private readonly signer: TokenSigner;
  private readonly budget: TimingBudget;
  private readonly initialRotation: Construct;

  /** Holds no resources; its id is fixed so that StandaloneTasks.of finds it. */
  constructor(owner: Construct, settings: StandaloneTasksSettings) {
    super(owner, ID);
    this.secret = settings.secret;
    this.signer = settings.signer;
    this.budget = settings.budget;
    this.initialRotation = settings.initialRotation.resource;
    owner.node.addValidation(new ConsumerDiscovery(owner, settings.secret, settings.bound.services, this.taskDefinitions));
  }

  public add(taskDefinition: ecs.TaskDefinition, options: StandaloneTaskOptions): void {
    const name = `addStandaloneTask(${taskDefinition.node.path})`;
    if (this.signer.kind === SignerKind.ROLE) {
      throw new Error(
        `${name}: the signer is TokenSigner.rotationFunctionRole(), whose tokens die when the rotation function's session credentials ` +
          'expire, at a time Lambda does not disclose: no validity is guaranteed to a task that is never redeployed. ' +
          'Use signer: TokenSigner.managedAccessKey(), whose tokens live their full tokenLifetime',
      );
    }
    if (this.taskDefinitions.includes(taskDefinition)) throw new Error(`${name}: this task definition is already declared`);
    const maxRunTime = options.maxRunTime;
    if (maxRunTime.isUnresolved()) {
      throw new Error(
        `${name}: maxRunTime must be a literal Duration, got a token (${maxRunTime.unitLabel()}): it is checked against ` +
          'minimumTaskValidity at synth, so pass a number, e.g. Duration.minutes(15)',
      );
    }
    const runSeconds = maxRunTime.toSeconds({ integral: false });
    const validSeconds = minimumTaskValiditySeconds(this.budget);
    if (runSeconds <= 0) throw new Error(`${name}: maxRunTime must be positive, got ${maxRunTime.toHumanString()}`);
    if (runSeconds > validSeconds) {
      // minimumTaskValidity is 2 x rolloutAllowance + watchdogInterval: the allowance that makes it cover the run.
      const raised = {
        ...this.budget,
        rolloutAllowanceSeconds: Math.max(1, Math.ceil((runSeconds - this.budget.watchdogIntervalSeconds) / 2)),
      };
      throw new Error(
        `${name}: maxRunTime ${maxRunTime.toHumanString()} is longer than minimumTaskValidity ${human(validSeconds)} ` +
          '(= 2 x rolloutAllowance + watchdogInterval), ' +
          'the least validity the current token has left when a task starts; the task is never redeployed, so its token could expire ' +
          `while it runs. Raise rolloutAllowance to at least ${human(raised.rolloutAllowanceSeconds)} (the minimums of tokenLifetime, ` +
          `then ${human(minimumTokenLifetimeSeconds(raised))}, and rotationInterval, then ${human(minimumRotationIntervalSeconds(raised))}, ` +
          `grow with it), or make the task end within ${human(validSeconds)}`,
      );
    }
    this.taskDefinitions.push(taskDefinition);
    // What ecsSecret()'s injection grants (AWSCURRENT only): the same statement, which the policy's rendering keeps once.
    grantCurrentRead(this.secret, taskDefinition.obtainExecutionRole());
    // Whatever starts its tasks (an EventBridge rule, a state machine) references it, so it too waits for the first token.
    taskDefinition.node.addDependency(this.initialRotation);
  }
}
