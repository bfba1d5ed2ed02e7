/**
 * The demo's Lambda consumer: a function in moto, bound as DsqlUrlSecret.updateFunctionOnRotation binds one
 * (an entry in the bound-functions parameter), whose DATABASE_URL the rotation function rewrites after each
 * promotion. moto runs no function code: the demo reads the variable back and connects with it, as the
 * function's code would. The Lambda model in front of moto (test/support/lambda-model.ts) answers as AWS
 * does where moto differs: revision ids, LastUpdateStatus InProgress after an update, the 4 KB limit.
 */
import { randomBytes } from 'crypto';
import { CreateRoleCommand } from '@aws-sdk/client-iam';
import { CreateFunctionCommand, GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { fingerprint } from '../functions/function-env-update';
import { BoundFunctionEntry } from '../lib/contract';
import { attachLambdaModel, LambdaModel } from '../test/support/lambda-model';
import { LocalStack } from '../test/support/local-stack';
import { ARROW, c, DemoError, Output, pad } from './report';

/** The construct's default variable and field (FunctionBindingOptions). */
const VARIABLE = 'DATABASE_URL';
const FIELD = 'url';
/** A variable of the function's own, which the rotation's read-modify-write must keep. */
const OWN_VARIABLES = { LOG_LEVEL: 'info' };
/** An empty zip: moto stores the code and never runs it. */
const EMPTY_ZIP = Buffer.from('PK\u0005\u0006' + '\u0000'.repeat(18), 'binary');

export class LambdaConsumer {
  /**
   * Deploys the function as the construct orders it: created after the first rotation, its DATABASE_URL the
   * dynamic reference CloudFormation resolves to AWSCURRENT's `url` (`currentUrl`), and lists it in the
   * bound-functions parameter.
   */
  static async deploy(s: LocalStack, currentUrl: string): Promise<LambdaConsumer> {
    const model = attachLambdaModel(s.proxy, s.moto);
    // One InProgress read after each update (AWS: until the update completes) keeps finishSecret's wait short here.
    model.readsPerUpdate = 1;
    const suffix = randomBytes(3).toString('hex');
    const role = await s.iam.send(new CreateRoleCommand({ RoleName: `app-report-role-${suffix}`, AssumeRolePolicyDocument: '{}' }));
    const lambda = new LambdaClient(s.moto.clientConfig());
    const created = await lambda.send(
      new CreateFunctionCommand({
        FunctionName: `app-report-${suffix}`,
        Runtime: 'nodejs24.x',
        Role: role.Role!.Arn!,
        Handler: 'index.handler',
        Code: { ZipFile: EMPTY_ZIP },
        Environment: { Variables: { ...OWN_VARIABLES, [VARIABLE]: currentUrl } },
      }),
    );
    const entry: BoundFunctionEntry = { functionArn: created.FunctionArn!, variable: VARIABLE, field: FIELD, alias: null };
    await s.ssm.send(new PutParameterCommand({ Name: s.functionsParameterName, Type: 'String', Value: JSON.stringify([entry]) }));
    return new LambdaConsumer(lambda, model, created.FunctionName!, fingerprint(currentUrl));
  }

  readonly variable = VARIABLE;

  private constructor(
    private readonly lambda: LambdaClient,
    private readonly model: LambdaModel,
    readonly name: string,
    /** The fingerprint of the value last shown: what the next update line starts from. */
    public shownFingerprint: string,
  ) {}

  /** $LATEST's variables, as read straight from moto (never printed: DATABASE_URL holds the token). */
  async variables(): Promise<Record<string, string>> {
    const out = await this.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: this.name }));
    return out.Environment?.Variables ?? {};
  }

  /** DATABASE_URL now; throws if it is not set or the function's own variables were lost. */
  async value(): Promise<string> {
    const variables = await this.variables();
    const value = variables[VARIABLE];
    if (value === undefined) throw new DemoError(`function ${this.name} has no ${VARIABLE}`);
    for (const [k, v] of Object.entries(OWN_VARIABLES)) {
      if (variables[k] !== v) throw new DemoError(`function ${this.name} lost its own variable ${k} in an update`);
    }
    return value;
  }

  /** The function's own variables, kept by every update. */
  get ownVariables(): string[] {
    return Object.keys(OWN_VARIABLES);
  }

  /** UpdateFunctionConfiguration calls that reached moto for this function. */
  get updates(): number {
    return this.model.updatesForwarded.get(this.name) ?? 0;
  }
}

/**
 * The bound function's part of a rotation, printed: deployed after the first rotation (`consumer` undefined);
 * after a later one, its DATABASE_URL must be AWSCURRENT's url, shown by fingerprint (the first 12 hex characters
 * of its SHA-256, as the handlers log it). Returns the consumer and, when it was updated, the value it holds.
 */
export async function showLambdaConsumer(
  out: Output,
  s: LocalStack,
  consumer: LambdaConsumer | undefined,
  currentUrl: string,
): Promise<{ consumer: LambdaConsumer; updatedValue?: string }> {
  if (!consumer) {
    const deployed = await LambdaConsumer.deploy(s, currentUrl);
    out.line(
      `  ${pad('lambda', 10)} ${deployed.name} deployed after this first rotation (as the construct orders it): ` +
        `${deployed.variable} ${c.cyan(fingerprint(currentUrl))} ${c.dim("(fingerprint of AWSCURRENT's url, resolved at deploy)")}`,
    );
    return { consumer: deployed };
  }
  const before = consumer.shownFingerprint;
  const held = await consumer.value();
  if (held !== currentUrl) {
    throw new DemoError(`${consumer.name}'s ${consumer.variable} is ${fingerprint(held)}, not AWSCURRENT's url ${fingerprint(currentUrl)}`);
  }
  const how = `written by finishSecret: ${consumer.updates} UpdateFunctionConfiguration; ${consumer.ownVariables.join(', ')} kept`;
  out.line(
    `  ${pad('lambda', 10)} ${consumer.name} ${consumer.variable} ${c.cyan(before)} ${ARROW} ${c.cyan(fingerprint(held))} ` +
      `= AWSCURRENT's url ${c.dim(`(${how})`)}`,
  );
  consumer.shownFingerprint = fingerprint(held);
  return { consumer, updatedValue: held };
}
