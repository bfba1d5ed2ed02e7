/**
 * Evaluates recorded calls with a real IAM policy evaluator (@cloud-copilot/iam-simulate): each resource of
 * each call against the caller's identity policies and, where the resource has one, its resource policy.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { CallRecord } from '../support/call-recorder';
import { NamedPolicy, PolicyDocument } from './template-policies';

export interface Principal {
  /** The caller's name in the records (`rotation`, `watchdog`, ...). */
  readonly caller: string;
  /** The role's or user's ARN: what aws:PrincipalArn holds, also for a role's sessions. */
  readonly arn: string;
  readonly policies: NamedPolicy[];
}

export interface Decision {
  readonly caller: string;
  readonly action: string;
  readonly resource: string;
  readonly result: 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied' | 'Error';
  /** The evaluator's validation errors (e.g. a resource ARN the action does not take), or the record's error. */
  readonly detail?: string;
}

export interface EvaluationInput {
  readonly account: string;
  readonly principals: Map<string, Principal>;
  /** Resource ARN -> its resource policy (the secrets' policies). */
  readonly resourcePolicies: Map<string, PolicyDocument>;
}

/** The request's principal: a role is represented by one of its sessions, as Lambda runs it. */
function requestPrincipal(p: Principal): string {
  const role = /^arn:aws:iam::(\d+):role\/(.+)$/.exec(p.arn);
  return role ? `arn:aws:sts::${role[1]}:assumed-role/${role[2].split('/').pop()}/${p.caller}` : p.arn;
}

export async function evaluateCall(call: CallRecord, resource: string, input: EvaluationInput): Promise<Decision> {
  const base = { caller: call.caller, action: call.action, resource };
  if (call.error !== undefined) return { ...base, result: 'Error', detail: call.error };
  const principal = input.principals.get(call.caller);
  if (principal === undefined) return { ...base, result: 'Error', detail: `no principal is known for caller ${call.caller}` };
  const response = await runSimulation(
    {
      request: {
        principal: requestPrincipal(principal),
        action: call.action,
        resource: { resource, accountId: input.account },
        contextVariables: {
          ...call.context,
          'aws:PrincipalArn': principal.arn,
          'aws:PrincipalAccount': input.account,
        },
      },
      identityPolicies: principal.policies.map((p) => ({ name: p.name, policy: p.policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: input.resourcePolicies.get(resource),
    },
    {},
  );
  if (response.resultType === 'error') return { ...base, result: 'Error', detail: JSON.stringify(response.errors) };
  return { ...base, result: response.overallResult as Decision['result'] };
}

/** Every decision for every resource of every call (calls answered by nobody and unsigned ones included). */
export async function evaluateCalls(calls: CallRecord[], input: EvaluationInput): Promise<Decision[]> {
  const decisions: Decision[] = [];
  for (const call of calls) {
    if (call.resources.length === 0) decisions.push(await evaluateCall(call, '(none)', input));
    for (const resource of call.resources) decisions.push(await evaluateCall(call, resource, input));
  }
  return decisions;
}

/** One line per denied or failed decision, the same call and resource once. */
export function denials(decisions: Decision[]): string[] {
  const lines = decisions
    .filter((d) => d.result !== 'Allowed')
    .map((d) => `${d.caller}: ${d.action} on ${d.resource}: ${d.result}${d.detail ? ` (${d.detail})` : ''}`);
  return [...new Set(lines)].sort();
}

const wildcard = (pattern: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );

/**
 * Per caller, each allowed action of each statement that no allowed call used on one of that statement's
 * resources: `<caller>: <action> on <resources>`, the resources written by `label` (e.g. `<keys secret>`).
 */
export function unusedGrants(decisions: Decision[], principals: Map<string, Principal>, label: (resource: string) => string): string[] {
  const out = new Set<string>();
  for (const [caller, p] of principals) {
    const allowed = decisions.filter((d) => d.caller === caller && d.result === 'Allowed');
    for (const statement of p.policies.flatMap((policy) => policy.policy.Statement)) {
      if (statement.Effect !== 'Allow') continue;
      const resources = ([] as unknown[]).concat(statement.Resource ?? []).map(String);
      for (const action of ([] as unknown[]).concat(statement.Action ?? []).map(String)) {
        const used = allowed.some((d) => wildcard(action).test(d.action) && resources.some((r) => wildcard(r).test(d.resource)));
        if (!used) out.add(`${caller}: ${action} on ${resources.map(label).join(', ')}`);
      }
    }
  }
  return [...out].sort();
}
