import { Lazy, Stack } from 'aws-cdk-lib/core';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { literalOf } from './service-arn-length';

/**
 * This policy's share of IAM's 10,240 characters for all of a role's inline
 * policies (lib/redeploy-permissions.ts takes 5,000, lib/task-read-permissions.ts
 * 2,000, the functions' own statements the rest).
 */
export const FUNCTION_POLICY_BUDGET = 2000;
/** Parts of an ARN not known at synth count their limit (lib/service-arn-length.ts counts ECS's alike). */
const MAX_PARTITION_LENGTH = 16;
const MAX_REGION_LENGTH = 20;
/** Lambda function names: at most 64 characters (CloudFormation truncates the names it generates to that); aliases 128. */
const MAX_FUNCTION_NAME_LENGTH = 64;
const MAX_ALIAS_NAME_LENGTH = 128;
const MAX_KEY_ARN_LENGTH = 'arn:'.length + MAX_PARTITION_LENGTH + ':kms:'.length + MAX_REGION_LENGTH + ':123456789012:key/'.length + 36;

/** What the policy reads at synth: each bound function, its alias if any (lib/function-consumers.ts FunctionBinding). */
export interface FunctionTarget {
  readonly fn: lambda.Function;
  readonly alias?: lambda.Alias;
}

/** How the document names each resource. */
interface ResourceNames {
  fn(target: FunctionTarget): string;
  alias(target: FunctionTarget): string;
  key(arn: string): string;
  region: string;
}

/**
 * Lets the rotation function and the watchdog update the bound functions'
 * environment. A policy of its own, written at synth when every function is
 * known: the rotation function must not depend on the bound functions, which
 * are created after the first rotation, which needs the rotation function.
 *
 * - GetFunctionConfiguration and UpdateFunctionConfiguration on each function
 *   (read-modify-write of the environment; waiting for LastUpdateStatus).
 * - With an alias: PublishVersion on its function; GetAlias and UpdateAlias
 *   on the function and on the alias (IAM's reference lists these two
 *   actions under the function resource type, not the alias one, so both
 *   ARNs are named); GetFunctionConfiguration on its versions
 *   (`<function>:*`), to read the environment the alias's version holds.
 * - A function whose environment is encrypted with a customer managed key
 *   (`environmentEncryption`): whoever configures such a function needs
 *   kms:Encrypt and kms:CreateGrant on the key, and kms:Decrypt to read the
 *   variables back (Lambda Developer Guide, "Securing Lambda environment
 *   variables"), each through Lambda only (kms:ViaService). The key's policy
 *   must let the account's IAM policies grant it (the default key policy does).
 */
export class FunctionConsumerPermissions extends Construct {
  constructor(
    scope: Construct,
    id: string,
    roles: readonly lambda.Function[],
    private readonly targets: readonly FunctionTarget[],
  ) {
    super(scope, id);
    new iam.CfnPolicy(this, 'Resource', {
      policyName: Lazy.string({ produce: () => `update-functions-${this.node.addr.slice(0, 16)}` }),
      roles: Lazy.list({ produce: () => roles.map((r) => r.role!.roleName) }),
      policyDocument: Lazy.any({ produce: () => this.document().toJSON() }),
    });
    this.node.addValidation({ validate: () => this.validateSize() });
  }

  /** The document, naming each resource by `arns` (the real ARNs, or placeholders as long as each can resolve to). */
  private document(arns: ResourceNames = this.realArns()): iam.PolicyDocument {
    const aliased = this.targets.filter((t) => t.alias !== undefined);
    const statements = [
      new iam.PolicyStatement({
        actions: ['lambda:GetFunctionConfiguration', 'lambda:UpdateFunctionConfiguration'],
        resources: this.targets.map(arns.fn),
      }),
    ];
    if (aliased.length > 0) {
      const functions = aliased.map(arns.fn);
      statements.push(
        new iam.PolicyStatement({ actions: ['lambda:PublishVersion'], resources: functions }),
        new iam.PolicyStatement({
          actions: ['lambda:GetAlias', 'lambda:UpdateAlias'],
          resources: [...functions, ...aliased.map(arns.alias)],
        }),
        new iam.PolicyStatement({ actions: ['lambda:GetFunctionConfiguration'], resources: functions.map((arn) => `${arn}:*`) }),
      );
    }
    const keys = this.keyArns();
    if (keys.length > 0) {
      statements.push(
        new iam.PolicyStatement({
          actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:CreateGrant'],
          resources: keys.map(arns.key),
          conditions: { StringEquals: { 'kms:ViaService': `lambda.${arns.region}.amazonaws.com` } },
        }),
      );
    }
    return new iam.PolicyDocument({ statements });
  }

  private realArns(): ResourceNames {
    return { fn: (t) => t.fn.functionArn, alias: (t) => t.alias!.functionArn, key: (arn) => arn, region: Stack.of(this).region };
  }

  /** The distinct customer managed keys that encrypt the bound functions' environments. */
  private keyArns(): string[] {
    const stack = Stack.of(this);
    const arns = this.targets
      .map((t) => (t.fn.node.defaultChild as lambda.CfnFunction).kmsKeyArn)
      .filter((a): a is string => a !== undefined);
    return [...new Map(arns.map((a) => [JSON.stringify(stack.resolve(a)), a])).values()];
  }

  /** The policy at its longest once CloudFormation resolves each ARN: the document with distinct placeholders of those lengths. */
  private longest(): number {
    const stack = Stack.of(this);
    const known = (value: string | undefined, max: number) => literalOf(stack, value)?.length ?? max;
    const prefix =
      'arn:'.length + known(stack.partition, MAX_PARTITION_LENGTH) + ':lambda:'.length + known(stack.region, MAX_REGION_LENGTH);
    const functionArn = (t: FunctionTarget) =>
      prefix +
      ':123456789012:function:'.length +
      known((t.fn.node.defaultChild as lambda.CfnFunction).functionName, MAX_FUNCTION_NAME_LENGTH);
    let n = 0;
    const placeholder = (length: number) => `${n++}`.padEnd(length, 'x');
    const document = this.document({
      fn: (t) => placeholder(functionArn(t)),
      alias: (t) => placeholder(functionArn(t) + 1 + known(t.alias!.aliasName, MAX_ALIAS_NAME_LENGTH)),
      key: (arn) => literalOf(stack, arn) ?? placeholder(MAX_KEY_ARN_LENGTH),
      region: 'r'.repeat(known(stack.region, MAX_REGION_LENGTH)),
    });
    // IAM counts the policy without whitespace.
    return JSON.stringify(stack.resolve(document.toJSON())).length;
  }

  private validateSize(): string[] {
    const length = this.longest();
    if (length <= FUNCTION_POLICY_BUDGET) return [];
    return [
      `updateFunctionOnRotation: the ${this.targets.length} functions bound to ${this.node.scope!.node.scope!.node.path} need a ` +
        `policy of up to ${length} characters, over the ${FUNCTION_POLICY_BUDGET} this policy may use of IAM's 10,240 for all ` +
        "of a role's inline policies. A function whose name CloudFormation generates counts 64 characters: give the functions " +
        'short names (functionName), or bind them to several DsqlUrlSecret constructs.',
    ];
  }
}
