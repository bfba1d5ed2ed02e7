import { Duration, Lazy, Stack } from 'aws-cdk-lib/core';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct, IConstruct } from 'constructs';
import { BoundFunctionEntry, boundServicesParameterName, METRICS_NAMESPACE, MetricName, SECRET_FIELDS, SignerKind } from './contract';
import { environmentSizeErrors, validateFunctionKind, validateFunctionTimeout, validateVariableName } from './function-binding-checks';
import { FunctionConsumerPermissions } from './function-consumer-permissions';
import { literalOf } from './service-arn-length';
import { STANDARD_PARAMETER_LIMIT } from './bound-services';

/** How a Lambda function is bound to the URL (DsqlUrlSecret.updateFunctionOnRotation). */
export interface FunctionBindingOptions {
  /**
   * The environment variable that holds the value. Not one Lambda reserves
   * (AWS_*, LAMBDA_*, _HANDLER, TZ ...), and not one the function sets itself.
   * @default 'DATABASE_URL'
   */
  readonly variable?: string;
  /**
   * The field of the secret written into the variable: url, host, port,
   * username, password, dbname, sslmode, issuedAt or expiresAt.
   * @default 'url'
   */
  readonly field?: string;
  /**
   * An alias of the function to move after each update: a version is
   * published from the updated $LATEST and the alias pointed at it. Published
   * versions keep the environment they were published with, so a function
   * invoked through an alias needs this to see the new URL.
   * @default - no alias: only $LATEST is updated
   */
  readonly alias?: lambda.Alias;
}

/** One bound function, read when the parameters and the policy are synthesized. */
export interface FunctionBinding {
  readonly fn: lambda.Function;
  readonly variable: string;
  readonly field: string;
  readonly alias?: lambda.Alias;
  /** The variable's template value: a dynamic reference to the field of the secret's AWSCURRENT version. */
  readonly reference: string;
}

export interface BoundFunctionsProps {
  readonly secret: secretsmanager.ISecret;
  /** The first parameter's name, known at synth: the functions read the parameters without depending on the bound functions. */
  readonly parameterName: string;
  /** The rotation function: it reads the parameters and updates the functions (the watchdog is added with watch). */
  readonly rotationFunction: lambda.Function;
  /** A bound function's timeout (its longest in-flight invocation) must fit within it. */
  readonly rolloutAllowance: Duration;
  /** Who signs the tokens (SignerKind): a session-signed URL is about three times as long. */
  readonly signerKind: string;
  /** The `Secret` dimension of the watchdog's metrics. */
  readonly metricDimension: string;
}

/** Lambda function names: at most 64 characters (CloudFormation truncates the names it generates to that). */
const MAX_FUNCTION_NAME_LENGTH = 64;
/** Lambda alias names: at most 128 characters. */
const MAX_ALIAS_NAME_LENGTH = 128;
/** `arn:<partition>:lambda:<region>:<account>:function:` at its longest (lib/service-arn-length.ts counts ECS's alike). */
const MAX_PARTITION_LENGTH = 16;
const MAX_REGION_LENGTH = 20;
/** An entry without its values, with its comma in the array: {"functionArn":"","variable":"","field":"","alias":""}, */
const ENTRY_OVERHEAD = JSON.stringify({ functionArn: '', variable: '', field: '', alias: '' }).length + 1;

/**
 * The Lambda functions bound to the URL: after every promotion the rotation
 * function writes the new value into each one's variable (read-modify-write
 * of the whole environment with its revision id), and the watchdog re-applies
 * a stale one. They are listed in SSM parameters (`<name>`, `<name>-2`, ...)
 * like the bound services (lib/bound-services.ts), each entry a
 * BoundFunctionEntry sized at its longest.
 *
 * The variable's template value is a dynamic reference to the secret's
 * current value, `{{resolve:secretsmanager:<arn>:SecretString:<field>::}}`:
 * CloudFormation supports secretsmanager dynamic references in all resource
 * properties and resolves them, without a version, to AWSCURRENT each time it
 * updates the resource (CloudFormation User Guide, "Get a secret or secret
 * value from Secrets Manager": "can be used in all resource properties";
 * "you must perform a stack update that updates the resource containing the
 * dynamic reference"). So a later deploy that updates the function writes the
 * current URL, never an old or empty one, and one that does not leaves the
 * rotation's value alone.
 */
export class BoundFunctions extends Construct {
  /** How many parameters there are, resolved at synth (a token until then). */
  public readonly count: number;
  public readonly bindings: FunctionBinding[] = [];
  private readonly chunks: Array<{ bindings: FunctionBinding[]; length: number }> = [];
  private readonly readers: lambda.Function[] = [];
  private permissions?: FunctionConsumerPermissions;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: BoundFunctionsProps,
  ) {
    super(scope, id);
    this.count = Lazy.number({ produce: () => this.chunks.length });
    this.addParameter();
    this.addReader(props.rotationFunction);
    this.node.addValidation({ validate: () => this.bindings.flatMap((b) => this.validateEnvironment(b)) });
  }

  /**
   * Binds `fn` (see DsqlUrlSecret.updateFunctionOnRotation).
   * @param firstRotation the function is created after it, so it never starts without a URL
   */
  public add(fn: lambda.IFunction, options: FunctionBindingOptions, firstRotation: IConstruct): void {
    const owner = this.node.scope!;
    const variable = options.variable ?? 'DATABASE_URL';
    const field = options.field ?? 'url';
    const bound = validateFunctionKind(owner, fn);
    validateVariableName(bound, variable);
    if (!SECRET_FIELDS.includes(field)) {
      throw new Error(`updateFunctionOnRotation: unknown field '${field}' for ${bound.node.path}; use one of ${SECRET_FIELDS.join(', ')}`);
    }
    if (this.bindings.some((b) => b.fn === bound)) {
      throw new Error(
        `updateFunctionOnRotation: function ${bound.node.path} is already bound to ${owner.node.path}; bind each function once ` +
          '(its URL holds host, port, user and database too)',
      );
    }
    if (options.alias !== undefined && options.alias.version.lambda !== bound) {
      throw new Error(
        `updateFunctionOnRotation: alias ${options.alias.node.path} is an alias of ${options.alias.version.lambda.node.path}, ` +
          `not of ${bound.node.path}; pass an alias of the bound function (fn.addAlias(...)), or bind the alias's own function`,
      );
    }
    validateFunctionTimeout(bound, this.props.rolloutAllowance);
    if (Object.keys(this.variablesOf(bound)).includes(variable)) {
      throw new Error(
        `updateFunctionOnRotation: function ${bound.node.path} already sets ${variable}; remove it from the function's environment ` +
          '(the rotation owns it from now on), or choose another variable',
      );
    }
    const reference = this.props.secret.secretValueFromJson(field).unsafeUnwrap();
    bound.addEnvironment(variable, reference);
    const binding: FunctionBinding = { fn: bound, variable, field, alias: options.alias, reference };
    this.bindings.push(binding);
    const length = this.entryLength(binding);
    let chunk = this.chunks[this.chunks.length - 1];
    if (chunk.bindings.length > 0 && chunk.length + length > STANDARD_PARAMETER_LIMIT) chunk = this.addParameter();
    chunk.bindings.push(binding);
    chunk.length += length;
    // Created with the first binding: a policy needs at least one statement.
    this.permissions ??= new FunctionConsumerPermissions(this, 'Policy', this.readers, this.bindings);
    bound.node.addDependency(firstRotation);
  }

  /**
   * The watchdog reads the parameters and may re-apply a stale value; returns
   * the alarm on its StaleFunctions metric.
   */
  public watch(watchdog: lambda.Function, interval: Duration): cloudwatch.Alarm {
    this.addReader(watchdog);
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: MetricName.STALE_FUNCTIONS,
      dimensionsMap: { Secret: this.props.metricDimension },
      statistic: 'Maximum',
      period: interval,
    }).createAlarm(this, 'FunctionUpdateAlarm', {
      alarmDescription:
        'A Lambda function bound to the Aurora DSQL URL still holds a value other than the current one after the watchdog ' +
        "re-applied it; see the watchdog function's logs for the function and the error",
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // The watchdog-failed alarm covers a watchdog that does not run.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  private addReader(reader: lambda.Function): void {
    this.readers.push(reader);
    // One statement for however many parameters; `<name>-*` lies under this construct's own unique path.
    // GetParameters only: both readers fetch the parameters 10 names a call (functions/function-consumers.ts).
    const arn = (name: string) => Stack.of(this).formatArn({ service: 'ssm', resource: 'parameter', resourceName: name.slice(1) });
    const name = this.props.parameterName;
    reader.addToRolePolicy(new iam.PolicyStatement({ actions: ['ssm:GetParameters'], resources: [arn(name), arn(`${name}-*`)] }));
  }

  /** The function's environment as the template will hold it (values resolved for its stack). */
  private variablesOf(fn: lambda.Function): Record<string, unknown> {
    const cfn = fn.node.defaultChild as lambda.CfnFunction;
    const environment = Stack.of(fn).resolve(cfn.environment) as { variables?: Record<string, unknown> } | undefined;
    return environment?.variables ?? {};
  }

  private validateEnvironment(binding: FunctionBinding): string[] {
    const { fn, variable } = binding;
    const variables = this.variablesOf(fn);
    if (JSON.stringify(variables[variable]) !== JSON.stringify(Stack.of(fn).resolve(binding.reference))) {
      return [
        `updateFunctionOnRotation: ${variable} of function ${fn.node.path} was set again after it was bound to ` +
          `${this.node.scope!.node.path} (addEnvironment, or another DsqlUrlSecret): a deploy would write that value over the ` +
          'rotated URL. Set it in one place only.',
      ];
    }
    return environmentSizeErrors(fn, variable, variables, this.props.signerKind === SignerKind.ROLE);
  }

  /** The longest the binding's entry can be once CloudFormation resolves the ARN, with its comma. */
  private entryLength(binding: FunctionBinding): number {
    const stack = Stack.of(this);
    const cfn = binding.fn.node.defaultChild as lambda.CfnFunction;
    const name = literalOf(stack, cfn.functionName)?.length ?? MAX_FUNCTION_NAME_LENGTH;
    const arn =
      'arn:'.length +
      (literalOf(stack, stack.partition)?.length ?? MAX_PARTITION_LENGTH) +
      ':lambda:'.length +
      (literalOf(stack, stack.region)?.length ?? MAX_REGION_LENGTH) +
      ':123456789012:function:'.length +
      name;
    const alias =
      binding.alias === undefined ? 'null'.length - 2 : (literalOf(stack, binding.alias.aliasName)?.length ?? MAX_ALIAS_NAME_LENGTH);
    return ENTRY_OVERHEAD + arn + binding.variable.length + binding.field.length + alias;
  }

  private entryOf(binding: FunctionBinding): BoundFunctionEntry {
    return {
      functionArn: binding.fn.functionArn,
      variable: binding.variable,
      field: binding.field,
      alias: binding.alias?.aliasName ?? null,
    };
  }

  private addParameter(): { bindings: FunctionBinding[]; length: number } {
    const index = this.chunks.length;
    // `[` and `]`; the last entry has no comma, which leaves one character of slack.
    const chunk = { bindings: [] as FunctionBinding[], length: 2 };
    this.chunks.push(chunk);
    new ssm.StringParameter(this, index === 0 ? 'Parameter' : `Parameter${index + 1}`, {
      parameterName: boundServicesParameterName(this.props.parameterName, index),
      description: 'Lambda functions whose environment cdk-dsql-url-secret updates after each rotation (JSON array)',
      stringValue: Lazy.string({ produce: () => Stack.of(this).toJsonString(chunk.bindings.map((b) => this.entryOf(b))) }),
    });
    return chunk;
  }
}
