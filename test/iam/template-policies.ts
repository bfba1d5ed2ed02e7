/**
 * The policies of a synthesized template as concrete JSON: Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select
 * and Fn::Split are resolved with a map from logical id to the physical ids of the run the policies are
 * checked against. Anything else (an intrinsic not listed, a logical id not in the map, a managed policy
 * not known here) throws, naming it: a policy resolved by guess would prove nothing.
 */

/** What a resource resolves to: its Ref and its attributes (Fn::GetAtt). */
export interface PhysicalResource {
  readonly ref?: string;
  readonly attributes?: Record<string, string>;
}

export interface TemplateJson {
  readonly Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
}

export type PolicyDocument = { Version?: string; Statement: Array<Record<string, unknown>> };
export interface NamedPolicy {
  readonly name: string;
  readonly policy: PolicyDocument;
}

/** The AWS managed policies the template attaches, as AWS defines them. */
const MANAGED_POLICIES: Record<string, PolicyDocument> = {
  'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole': {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'], Resource: '*' }],
  },
};

export class TemplateResolver {
  private readonly pseudo: Record<string, string>;

  constructor(
    readonly template: TemplateJson,
    private readonly physical: Record<string, PhysicalResource>,
    env: { account: string; region: string; stackName: string },
  ) {
    this.pseudo = {
      'AWS::Partition': 'aws',
      'AWS::AccountId': env.account,
      'AWS::Region': env.region,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': env.stackName,
    };
  }

  /** `value` with every intrinsic resolved; throws on one it cannot resolve. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value;
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) return this.intrinsic(keys[0], o[keys[0]]);
    return Object.fromEntries(keys.map((k) => [k, this.resolve(o[k])]));
  }

  /** The identity policies of a role: inline, AWS::IAM::Policy and AWS::IAM::ManagedPolicy attached to it, and AWS managed ones. */
  rolePolicies(roleId: string): NamedPolicy[] {
    const role = this.resourceOf(roleId, 'AWS::IAM::Role');
    return [...this.attached(roleId, 'Roles', role), ...this.managed(role)];
  }

  /** The identity policies of a user: its own and its groups'. */
  userPolicies(userId: string): NamedPolicy[] {
    const user = this.resourceOf(userId, 'AWS::IAM::User');
    const groups = ((user.Properties?.Groups as unknown[]) ?? []).map((g) => refId(g, `${userId}.Groups`));
    for (const [id, r] of Object.entries(this.template.Resources)) {
      if (r.Type !== 'AWS::IAM::UserToGroupAddition') continue;
      const users = (r.Properties?.Users as unknown[]).map((u) => refId(u, `${id}.Users`));
      if (users.includes(userId)) groups.push(refId(r.Properties?.GroupName, `${id}.GroupName`));
    }
    return [
      ...this.attached(userId, 'Users', user),
      ...this.managed(user),
      ...groups.flatMap((g) => [...this.attached(g, 'Groups', this.resourceOf(g, 'AWS::IAM::Group')), ...this.managed(this.resourceOf(g))]),
    ];
  }

  /** Resource ARN (resolved) -> its AWS::SecretsManager::ResourcePolicy document. */
  secretResourcePolicies(): Map<string, PolicyDocument> {
    const out = new Map<string, PolicyDocument>();
    for (const r of Object.values(this.template.Resources)) {
      if (r.Type !== 'AWS::SecretsManager::ResourcePolicy') continue;
      out.set(String(this.resolve(r.Properties?.SecretId)), this.resolve(r.Properties?.ResourcePolicy) as PolicyDocument);
    }
    return out;
  }

  private attached(id: string, field: 'Roles' | 'Users' | 'Groups', own: { Properties?: Record<string, unknown> }): NamedPolicy[] {
    const inline = ((own.Properties?.Policies as Array<{ PolicyName: string; PolicyDocument: unknown }>) ?? []).map((p) => ({
      name: p.PolicyName,
      policy: this.resolve(p.PolicyDocument) as PolicyDocument,
    }));
    const separate = Object.entries(this.template.Resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy')
      .filter(([pid, r]) => ((r.Properties?.[field] as unknown[]) ?? []).some((x) => refId(x, `${pid}.${field}`) === id))
      .map(([pid, r]) => ({ name: pid, policy: this.resolve(r.Properties?.PolicyDocument) as PolicyDocument }));
    return [...inline, ...separate];
  }

  private managed(own: { Properties?: Record<string, unknown> }): NamedPolicy[] {
    return ((own.Properties?.ManagedPolicyArns as unknown[]) ?? []).map((a) => {
      const arn = String(this.resolve(a));
      const policy = MANAGED_POLICIES[arn];
      if (policy === undefined) throw new Error(`managed policy ${arn} is not known to test/iam/template-policies.ts`);
      return { name: arn, policy };
    });
  }

  private resourceOf(id: string, type?: string): { Type: string; Properties?: Record<string, unknown> } {
    const r = this.template.Resources[id];
    if (r === undefined || (type !== undefined && r.Type !== type)) throw new Error(`no ${type ?? 'resource'} ${id} in the template`);
    return r;
  }

  private intrinsic(name: string, arg: unknown): unknown {
    switch (name) {
      case 'Ref':
        return this.ref(String(arg));
      case 'Fn::GetAtt': {
        const [id, attr] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
        return this.attribute(id, attr);
      }
      case 'Fn::Join': {
        const [sep, parts] = arg as [string, unknown[]];
        return (this.resolve(parts) as unknown[]).map(String).join(sep);
      }
      case 'Fn::Select': {
        const [index, items] = arg as [number, unknown];
        return (this.resolve(items) as unknown[])[Number(index)];
      }
      case 'Fn::Split': {
        const [sep, text] = arg as [string, unknown];
        return String(this.resolve(text)).split(sep);
      }
      case 'Fn::Sub': {
        const [text, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
        return text.replace(/\$\{([^}]+)\}/g, (_, key: string) => {
          if (key in vars) return String(this.resolve(vars[key]));
          return key.includes('.') ? this.attribute(...(key.split('.') as [string, string])) : this.ref(key);
        });
      }
      default:
        throw new Error(`unsupported intrinsic ${name}: ${JSON.stringify(arg)}`);
    }
  }

  private ref(id: string): string {
    if (id in this.pseudo) return this.pseudo[id];
    const ref = this.physical[id]?.ref;
    if (ref === undefined)
      throw new Error(`unresolved Ref ${id} (${this.template.Resources[id]?.Type ?? 'not in the template'}): add it to the map`);
    return ref;
  }

  private attribute(id: string, attr: string): string {
    const value = this.physical[id]?.attributes?.[attr];
    if (value === undefined)
      throw new Error(`unresolved Fn::GetAtt ${id}.${attr} (${this.template.Resources[id]?.Type ?? 'not in the template'})`);
    return value;
  }
}

/** The logical id a `{ Ref }` names (where a template lists roles, users or groups). */
function refId(value: unknown, where: string): string {
  const ref = (value as { Ref?: unknown } | undefined)?.Ref;
  if (typeof ref !== 'string') throw new Error(`${where}: expected a Ref, got ${JSON.stringify(value)}`);
  return ref;
}

/** Every action a policy allows, with the resources of the statements allowing it (wildcard actions as written). */
export function allowedActions(policies: NamedPolicy[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of policies) {
    for (const s of p.policy.Statement) {
      if (s.Effect !== 'Allow') continue;
      const resources = ([] as unknown[]).concat(s.Resource ?? []).map(String);
      for (const a of ([] as unknown[]).concat(s.Action ?? []).map(String)) out.set(a, [...(out.get(a) ?? []), ...resources]);
    }
  }
  return out;
}
