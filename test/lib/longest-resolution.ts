/**
 * The longest value a synthesized template expression can take once
 * CloudFormation resolves it, worked out from the template alone (not from
 * the library's own sizing code): a Ref or attribute is replaced by a string
 * as long as AWS allows for that resource type, with names CloudFormation
 * generates at their service limit.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';

const ECS_NAME = 255;
const PSEUDO: Record<string, number> = { 'AWS::Partition': 10, 'AWS::Region': 15, 'AWS::AccountId': 12, 'AWS::URLSuffix': 16 };
const arnPrefix = (service: string) => `arn:${'p'.repeat(10)}:${service}:${'r'.repeat(15)}:${'1'.repeat(12)}:`.length;
/** Longest Ref value per resource type. */
const REF: Record<string, number> = {
  'AWS::ECS::Service': arnPrefix('ecs') + 'service/'.length + ECS_NAME + 1 + ECS_NAME,
  'AWS::ECS::Cluster': ECS_NAME,
  // Secret names up to 512, plus `-` and 6 random characters.
  'AWS::SecretsManager::Secret': arnPrefix('secretsmanager') + 'secret:'.length + 512 + 7,
  'AWS::IAM::Role': 64,
  'AWS::IAM::User': 64,
  'AWS::KMS::Key': 36,
  'AWS::DSQL::Cluster': 26,
  'AWS::Lambda::Function': 64,
  // CodeDeploy application and deployment group names: at most 100 characters.
  'AWS::CodeDeploy::Application': 100,
  'AWS::CodeDeploy::DeploymentGroup': 100,
};
/** Longest GetAtt value per `type.attribute`. */
const ATT: Record<string, number> = {
  'AWS::IAM::Role.Arn': arnPrefix('iam') + 'role/'.length + 512 + 64,
  'AWS::IAM::User.Arn': arnPrefix('iam') + 'user/'.length + 512 + 64,
  'AWS::KMS::Key.Arn': arnPrefix('kms') + 'key/'.length + 36,
  'AWS::Lambda::Function.Arn': arnPrefix('lambda') + 'function:'.length + 64,
  'AWS::DSQL::Cluster.ResourceArn': arnPrefix('dsql') + 'cluster/'.length + 26,
  'AWS::DSQL::Cluster.Identifier': 26,
  'AWS::ECS::Cluster.Arn': arnPrefix('ecs') + 'cluster/'.length + ECS_NAME,
  'AWS::ECS::Service.Name': ECS_NAME,
  'AWS::SecretsManager::Secret.Id': REF['AWS::SecretsManager::Secret'],
  // Log group names (generated ones included) are at most 512 characters; the attribute ends with `:*`.
  'AWS::Logs::LogGroup.Arn': arnPrefix('logs') + 'log-group:'.length + 512 + ':*'.length,
};

export class LongestResolution {
  readonly resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  private readonly outputs: Record<string, { Value: unknown }>;
  private readonly nested = new Map<string, LongestResolution>();

  /** @param nestedStacks the stack's nested stacks (their outputs are read through the parent's GetAtt) */
  constructor(
    readonly stack: Stack,
    nestedStacks: Stack[] = [],
    private readonly parent?: { resolution: LongestResolution; logicalId: string },
  ) {
    const template = Template.fromStack(stack).toJSON();
    this.resources = template.Resources;
    this.outputs = template.Outputs ?? {};
    for (const n of nestedStacks) {
      const logicalId = stack.resolve((n.nestedStackResource as unknown as { logicalId: string }).logicalId) as string;
      this.nested.set(logicalId, new LongestResolution(n, [], { resolution: this, logicalId }));
    }
  }

  /** The expression with every intrinsic replaced by a string of its longest length. */
  substitute(value: unknown): unknown {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => this.substitute(v));
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) return 'x'.repeat(this.length(o));
    return Object.fromEntries(keys.map((k) => [k, this.substitute(o[k])]));
  }

  /** The longest length of a string expression. */
  length(value: unknown): number {
    if (typeof value === 'string') return value.length;
    const o = value as Record<string, unknown>;
    if ('Ref' in o) {
      const ref = o.Ref as string;
      if (ref in PSEUDO) return PSEUDO[ref];
      const r = this.resources[ref];
      if (r === undefined) return this.parameterLength(ref);
      if (r.Type === 'AWS::SSM::Parameter') return (r.Properties!.Name as string).length;
      // A name given in the template is the name; otherwise CloudFormation generates one, up to the limit.
      const name = r.Properties?.ServiceName ?? r.Properties?.ClusterName;
      if (r.Type === 'AWS::ECS::Cluster' && typeof name === 'string') return name.length;
      if (r.Type === 'AWS::ECS::Service' && typeof name === 'string' && r.Properties?.Cluster !== undefined) {
        return arnPrefix('ecs') + 'service/'.length + this.length(r.Properties.Cluster) + 1 + name.length;
      }
      return this.known(REF, r.Type, ref);
    }
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.reduce<number>((n, p) => n + this.length(p), 0) + sep.length * Math.max(0, parts.length - 1);
    }
    if ('Fn::GetAtt' in o) {
      const [id, attribute] = o['Fn::GetAtt'] as [string, string];
      const r = this.resources[id];
      if (r.Type === 'AWS::CloudFormation::Stack' && attribute.startsWith('Outputs.')) {
        const inner = this.nested.get(id)!;
        return inner.length(inner.output(attribute.slice('Outputs.'.length)));
      }
      return this.known(ATT, `${r.Type}.${attribute}`, id);
    }
    throw new Error(`no longest length for ${JSON.stringify(value)}`);
  }

  private known(table: Record<string, number>, key: string, id: string): number {
    if (!(key in table)) throw new Error(`no longest length for ${key} (${id})`);
    return table[key];
  }

  /** A nested stack's parameter: what its parent passes in. */
  private parameterLength(name: string): number {
    if (this.parent === undefined) throw new Error(`unknown Ref ${name}`);
    const { resolution, logicalId } = this.parent;
    const passed = (resolution.resources[logicalId].Properties!.Parameters as Record<string, unknown>)[name];
    return resolution.length(passed);
  }

  private output(name: string): unknown {
    return this.outputs[name].Value;
  }
}
