/**
 * What IAM authorizes for one AWS request: the action, the resource ARN(s) and the condition keys that
 * the request itself sets, derived from the request's identifiers only (a table per action). Values
 * that carry secrets (SecretString, Environment, the token) are never read.
 *
 * An action with no rule here throws: a call nobody modelled must fail the test, not pass unchecked.
 */

export interface RequestScope {
  readonly region: string;
  readonly account: string;
  /** A secret's name (as a SecretId may give it) to its ARN; ARNs pass through. */
  readonly secretArnOf: (secretId: string) => string;
  /** The deployment group ARN a CodeDeploy deployment id belongs to (learnt from earlier answers). */
  readonly deploymentGroupOf: (deploymentId: string) => string | undefined;
}

export interface Authorization {
  /** One IAM check per resource: every one must be allowed. `*` for actions without resource-level permissions. */
  readonly resources: string[];
  /** Condition keys the request sets (aws:TagKeys, ecs:cluster, secretsmanager:VersionStage, ...). */
  readonly context: Record<string, string | string[]>;
}

type Input = Record<string, unknown>;
type Rule = (input: Input, scope: RequestScope) => Authorization;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
const arnPrefix = (service: string, s: RequestScope) => `arn:aws:${service}:${s.region}:${s.account}`;

function required(input: Input, field: string): string {
  const value = str(input[field]);
  if (value === undefined) throw new Error(`request has no ${field}`);
  return value;
}

function secret(extra: (input: Input) => Record<string, string | string[] | undefined> = () => ({})): Rule {
  return (input, s) => {
    const arn = s.secretArnOf(required(input, 'SecretId'));
    const context: Record<string, string | string[]> = { 'secretsmanager:SecretId': arn };
    for (const [k, v] of Object.entries(extra(input))) if (v !== undefined) context[k] = v;
    return { resources: [arn], context };
  };
}

function ecsCluster(input: Input, s: RequestScope): { name: string; arn: string } {
  const given = str(input.cluster) ?? 'default';
  const name = given.startsWith('arn:') ? given.slice(given.indexOf('/') + 1) : given;
  return { name, arn: `${arnPrefix('ecs', s)}:cluster/${name}` };
}

function ecsArn(kind: 'service' | 'task', id: string, cluster: string, s: RequestScope): string {
  return id.startsWith('arn:') ? id : `${arnPrefix('ecs', s)}:${kind}/${cluster}/${id}`;
}

/** UpdateService's condition keys, each only when the request sets what it names (a Null condition must see it absent). */
function updateServiceContext(input: Input): Record<string, string | string[]> {
  const context: Record<string, string | string[]> = {};
  if (str(input.taskDefinition)) context['ecs:task-definition'] = String(input.taskDefinition);
  if (typeof input.enableExecuteCommand === 'boolean') context['ecs:enable-execute-command'] = String(input.enableExecuteCommand);
  if (typeof input.enableECSManagedTags === 'boolean') context['ecs:enable-ecs-managed-tags'] = String(input.enableECSManagedTags);
  if (str(input.propagateTags)) context['ecs:propagate-tags'] = String(input.propagateTags);
  const providers = Array.isArray(input.capacityProviderStrategy) ? (input.capacityProviderStrategy as Input[]) : [];
  if (providers.length > 0) context['ecs:capacity-provider'] = providers.map((p) => String(p.capacityProvider));
  return context;
}

function deploymentGroup(input: Input, s: RequestScope): string {
  return `${arnPrefix('codedeploy', s)}:deploymentgroup:${required(input, 'applicationName')}/${required(input, 'deploymentGroupName')}`;
}

function byDeploymentId(input: Input, s: RequestScope): Authorization {
  const id = required(input, 'deploymentId');
  const group = s.deploymentGroupOf(id);
  if (group === undefined) throw new Error(`deployment ${id}: its deployment group was never seen in an answer`);
  return { resources: [group], context: {} };
}

/** A Lambda function named by name, partial or full ARN, qualified by `qualifier` if given. */
export function lambdaFunctionArn(nameOrArn: string, qualifier: string | undefined, s: RequestScope): string {
  const name = decodeURIComponent(nameOrArn);
  const unqualified = name.startsWith('arn:')
    ? name.split(':').slice(0, 7).join(':')
    : `${arnPrefix('lambda', s)}:function:${name.split(':')[0]}`;
  const inArn = name.startsWith('arn:') ? name.split(':')[7] : name.split(':')[1];
  const q = qualifier ?? inArn;
  return q === undefined ? unqualified : `${unqualified}:${q}`;
}

const lambdaRule: Rule = (input, s) => ({
  resources: [lambdaFunctionArn(required(input, 'FunctionName'), str(input.Qualifier), s)],
  context: {},
});

const anyResource: Rule = () => ({ resources: ['*'], context: {} });
const ssmArn = (name: string, s: RequestScope) => `${arnPrefix('ssm', s)}:parameter/${name.replace(/^\//, '')}`;
const iamUser: Rule = (input, s) => ({ resources: [`arn:aws:iam::${s.account}:user/${required(input, 'UserName')}`], context: {} });

/** `service:Action` -> rule. */
const RULES: Record<string, Rule> = {
  'secretsmanager:DescribeSecret': secret(),
  'secretsmanager:GetSecretValue': secret((i) => ({
    'secretsmanager:VersionStage': str(i.VersionStage),
    'secretsmanager:VersionId': str(i.VersionId),
  })),
  'secretsmanager:PutSecretValue': secret((i) => ({ 'secretsmanager:VersionStage': list(i.VersionStages) })),
  'secretsmanager:UpdateSecretVersionStage': secret((i) => ({ 'secretsmanager:VersionStage': str(i.VersionStage) })),
  'secretsmanager:ListSecretVersionIds': secret(),
  'secretsmanager:RotateSecret': secret((i) => ({ 'secretsmanager:RotationLambdaARN': str(i.RotationLambdaARN) })),
  'secretsmanager:CancelRotateSecret': secret(),
  'secretsmanager:TagResource': secret((i) => ({ 'aws:TagKeys': ((i.Tags as Input[] | undefined) ?? []).map((t) => String(t.Key)) })),
  'secretsmanager:UntagResource': secret((i) => ({ 'aws:TagKeys': list(i.TagKeys) })),
  'secretsmanager:GetRandomPassword': anyResource,
  'ssm:GetParameter': (i, s) => ({ resources: [ssmArn(required(i, 'Name'), s)], context: {} }),
  'ssm:GetParameters': (i, s) => ({ resources: list(i.Names).map((n) => ssmArn(n, s)), context: {} }),
  'ecs:UpdateService': (i, s) => {
    const c = ecsCluster(i, s);
    return {
      resources: [ecsArn('service', required(i, 'service'), c.name, s)],
      context: { 'ecs:cluster': c.arn, ...updateServiceContext(i) },
    };
  },
  'ecs:DescribeServices': (i, s) => {
    const c = ecsCluster(i, s);
    return { resources: list(i.services).map((id) => ecsArn('service', id, c.name, s)), context: { 'ecs:cluster': c.arn } };
  },
  // ListTasks is authorized on container instances, which a request names none of: IAM checks `*` with ecs:cluster.
  'ecs:ListTasks': (i, s) => ({ resources: ['*'], context: { 'ecs:cluster': ecsCluster(i, s).arn } }),
  'ecs:DescribeTasks': (i, s) => {
    const c = ecsCluster(i, s);
    return { resources: list(i.tasks).map((id) => ecsArn('task', id, c.name, s)), context: { 'ecs:cluster': c.arn } };
  },
  'ecs:DescribeTaskDefinition': anyResource,
  'codedeploy:CreateDeployment': (i, s) => ({ resources: [deploymentGroup(i, s)], context: {} }),
  'codedeploy:ListDeployments': (i, s) => ({ resources: [deploymentGroup(i, s)], context: {} }),
  'codedeploy:GetDeployment': byDeploymentId,
  'codedeploy:RegisterApplicationRevision': (i, s) => ({
    resources: [`${arnPrefix('codedeploy', s)}:application:${required(i, 'applicationName')}`],
    context: {},
  }),
  'codedeploy:GetDeploymentConfig': (i, s) => ({
    resources: [`${arnPrefix('codedeploy', s)}:deploymentconfig:${required(i, 'deploymentConfigName')}`],
    context: {},
  }),
  'lambda:GetFunctionConfiguration': lambdaRule,
  'lambda:UpdateFunctionConfiguration': lambdaRule,
  'lambda:PublishVersion': (i, s) => ({ resources: [lambdaFunctionArn(required(i, 'FunctionName'), undefined, s)], context: {} }),
  'lambda:GetAlias': (i, s) => ({ resources: [lambdaFunctionArn(required(i, 'FunctionName'), required(i, 'Name'), s)], context: {} }),
  'lambda:UpdateAlias': (i, s) => ({ resources: [lambdaFunctionArn(required(i, 'FunctionName'), required(i, 'Name'), s)], context: {} }),
  'lambda:InvokeFunction': lambdaRule,
  'iam:CreateAccessKey': iamUser,
  'iam:DeleteAccessKey': iamUser,
  'iam:ListAccessKeys': iamUser,
  'dsql:GetCluster': (i, s) => ({ resources: [`${arnPrefix('dsql', s)}:cluster/${required(i, 'identifier')}`], context: {} }),
};

/** Calls that need no permission at all (AWS answers them for any authenticated caller). */
export const NO_PERMISSION_NEEDED = new Set(['sts:GetCallerIdentity']);

/** The resources and request condition keys of `action` (`service:Action`); throws for an action no rule covers. */
export function authorizationOf(action: string, input: Input, scope: RequestScope): Authorization {
  const rule = RULES[action];
  if (rule === undefined) throw new Error(`no resource rule for ${action}: add one to test/iam/request-resources.ts`);
  const auth = rule(input, scope);
  return { resources: auth.resources, context: { ...auth.context, 'aws:RequestedRegion': scope.region } };
}
