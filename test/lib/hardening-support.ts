import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { runSimulation } from '@cloud-copilot/iam-simulate';

export const ACCOUNT = '123456789012';

export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
  readonly Principal?: unknown;
}

export const actionsOf = (s: { Action: string | string[] }): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);

/** The statements of the identity policies attached to the role whose logical id starts with `rolePrefix`. */
export function roleStatements(stack: Stack, rolePrefix: string): Statement[] {
  const policies = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'));
  return policies
    .filter((p) => JSON.stringify(p.Properties.Roles ?? []).includes(`"${rolePrefix}`))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

/** Every statement of every identity policy in the stack. */
export function allStatements(stack: Stack): Statement[] {
  const policies = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'));
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

/** `statements` with each resource replaced by `resource` (a concrete ARN for the evaluator), conditions kept as synthesized. */
export function withResource(statements: readonly Statement[], resource: string): Statement[] {
  return statements.map((s) => ({ ...s, Resource: resource }));
}

export interface Request {
  readonly action: string;
  readonly resource: string;
  /** The role ARN (aws:PrincipalArn); the request's principal is a session of it. */
  readonly roleArn: string;
  readonly context?: Record<string, string | string[]>;
}

/** AWS's decision (through @cloud-copilot/iam-simulate) for `request` under an identity policy and an optional resource policy. */
export async function decide(request: Request, identity: readonly Statement[], resourcePolicy?: readonly Statement[]): Promise<string> {
  const roleName = request.roleArn.split('/').pop();
  const result = await runSimulation(
    {
      identityPolicies: [{ name: 'identity', policy: { Version: '2012-10-17', Statement: identity } }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: resourcePolicy ? { Version: '2012-10-17', Statement: resourcePolicy } : undefined,
      request: {
        action: request.action,
        principal: `arn:aws:sts::${ACCOUNT}:assumed-role/${roleName}/session`,
        resource: { accountId: ACCOUNT, resource: request.resource },
        contextVariables: { 'aws:PrincipalArn': request.roleArn, 'aws:PrincipalAccount': ACCOUNT, ...request.context },
      },
    } as Parameters<typeof runSimulation>[0],
    {},
  );
  const errors = (result as { errors?: unknown }).errors;
  if (errors) throw new Error(`the simulation refused its input: ${JSON.stringify(errors)}`);
  return (result as { overallResult: string }).overallResult;
}
