/**
 * Least privilege, proven against a real IAM policy evaluator (@cloud-copilot/iam-simulate; moto enforces
 * no IAM): the flows in recorded-flows.ts run the shipped bundles and the CLI against moto while every AWS
 * call (and every DSQL login) is recorded with its caller, action, resources and condition keys
 * (.tmp/aws-calls/*.jsonl). Each call is then evaluated against the policies of the synthesized template
 * of the same setup (least-privilege-stack.ts), resolved to concrete JSON with the run's physical ids:
 * the caller's role (or the signer user's group), plus the secret's resource policy where there is one.
 *
 * It fails on every call that would be denied, and on every granted action no recorded call used unless
 * UNUSED_BUT_NEEDED says why it stays. The CLI is checked against the permissions the README lists for it.
 */
import * as path from 'path';
import { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct, IConstruct } from 'constructs';
import { CallRecord } from '../support/call-recorder';
import { Decision, denials, evaluateCalls, Principal, unusedGrants } from './evaluate';
import {
  ACCOUNT,
  ALIAS_NAME,
  CODE_DEPLOY,
  ECS_CLUSTER_NAME,
  leastPrivilegeStack,
  REGION,
  roleBootstrapStack,
} from './least-privilege-stack';
import { recordFlows, RecordedRun, ROTATION_FUNCTION_ARN, RunResources } from './recorded-flows';
import { PhysicalResource, TemplateJson, TemplateResolver } from './template-policies';

jest.setTimeout(240_000);

/**
 * Granted actions the flows do not call, each with why it stays. An entry that a call did use fails the
 * test too, so the list never outlives its reason.
 */
const LOGS = 'only on real AWS: the Lambda runtime writes the function logs with its role, no handler calls CloudWatch Logs';
const CODEDEPLOY =
  'checked by CodeDeploy itself on CreateDeployment of a revision in this application and configuration (moto checks nothing)';
const UNUSED_BUT_NEEDED: Record<string, string> = {
  'rotation: logs:CreateLogStream on <its log group>': LOGS,
  'rotation: logs:PutLogEvents on <its log group>': LOGS,
  'watchdog: logs:CreateLogStream on <its log group>': LOGS,
  'watchdog: logs:PutLogEvents on <its log group>': LOGS,
  'first-rotation: logs:CreateLogStream on <its log group>': LOGS,
  'first-rotation: logs:PutLogEvents on <its log group>': LOGS,
  'role-bootstrap: logs:CreateLogStream on <its log group>': LOGS,
  'role-bootstrap: logs:PutLogEvents on <its log group>': LOGS,
  'rotation: codedeploy:GetDeploymentConfig on codedeploy:deploymentconfig:CodeDeployDefault.ECSAllAtOnce': CODEDEPLOY,
  'rotation: codedeploy:RegisterApplicationRevision on codedeploy:application:shop': CODEDEPLOY,
  'watchdog: codedeploy:GetDeploymentConfig on codedeploy:deploymentconfig:CodeDeployDefault.ECSAllAtOnce': CODEDEPLOY,
  'watchdog: codedeploy:RegisterApplicationRevision on codedeploy:application:shop': CODEDEPLOY,
  'first-rotation: secretsmanager:UpdateSecretVersionStage on <secret>':
    're-drive: takes AWSPENDING off a rotation stalled for redriveAfterSeconds (minutes), then rotates (test/functions/first-rotation.test.ts)',
  'rotation: secretsmanager:UntagResource on <secret>':
    'a deferred rotation (rolloutAllowance > 0) drops its tag when it goes ahead; here rolloutAllowance is 0 (test/functions/deferral.test.ts)',
  'watchdog: secretsmanager:ListSecretVersionIds on <secret>':
    'dates an AWSPENDING older than stalePendingSeconds; moto dates every version now, so none is stale here (test/functions/watchdog.test.ts)',
  'watchdog: secretsmanager:UpdateSecretVersionStage on <secret>':
    'drops such a stale AWSPENDING, which would block every later rotation (test/functions/watchdog.test.ts)',
};

const arnOf = {
  role: (id: string) => `arn:aws:iam::${ACCOUNT}:role/${id}`,
  user: (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`,
  fn: (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`,
};

/** The permissions the README's CLI section lists for status and rotate, on this setup's resources. */
function documentedCliPolicy(r: RunResources, boundServicesParameter: string): Principal['policies'] {
  const group = `arn:aws:codedeploy:${REGION}:${ACCOUNT}:deploymentgroup:${CODE_DEPLOY.application}/${CODE_DEPLOY.deploymentGroup}`;
  const cluster = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${ECS_CLUSTER_NAME}`;
  const parameter = `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${boundServicesParameter}`;
  const statements = [
    { Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:RotateSecret'], Resource: r.secretArn },
    { Action: 'ssm:GetParameter', Resource: [parameter, `${parameter}-*`] },
    { Action: 'ecs:DescribeServices', Resource: r.serviceArns },
    { Action: 'ecs:ListTasks', Resource: '*', Condition: { ArnEquals: { 'ecs:cluster': cluster } } },
    { Action: 'ecs:DescribeTasks', Resource: `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${ECS_CLUSTER_NAME}/*` },
    { Action: 'lambda:InvokeFunction', Resource: ROTATION_FUNCTION_ARN },
    { Action: ['codedeploy:ListDeployments', 'codedeploy:GetDeployment'], Resource: group },
  ];
  return [
    {
      name: 'readme-cli-status-and-rotate',
      policy: { Version: '2012-10-17', Statement: statements.map((s) => ({ Effect: 'Allow', ...s })) },
    },
  ];
}

/** The role bootstrap's role, from the same construct with a custom database role (its log group labelled like the others'). */
function bootstrapPrincipal(dsqlClusterId: string): [string, Principal] {
  const variant = roleBootstrapStack();
  const template = Template.fromStack(variant.stack).toJSON() as TemplateJson;
  const clusterArn = `arn:aws:dsql:${REGION}:${ACCOUNT}:cluster/${dsqlClusterId}`;
  const physical: Record<string, PhysicalResource> = {
    [variant.stack.getLogicalId(variant.cluster)]: {
      ref: dsqlClusterId,
      attributes: { Identifier: dsqlClusterId, ResourceArn: clusterArn },
    },
  };
  for (const [logId, res] of Object.entries(template.Resources)) {
    if (res.Type === 'AWS::Logs::LogGroup') physical[logId] = { ref: logId, attributes: { Arn: logGroupArn(logId) } };
  }
  const fn = variant.db.node
    .findAll()
    .find((c): c is lambda.Function => c instanceof lambda.Function && c.node.path.endsWith('/RoleBootstrap/Function'));
  if (fn === undefined) throw new Error('no role bootstrap function in the custom-role stack');
  const roleId = variant.stack.getLogicalId(fn.role!.node.defaultChild as CfnElement);
  const resolver = new TemplateResolver(
    template,
    { ...physical, [roleId]: { ref: roleId } },
    { account: ACCOUNT, region: REGION, stackName: 'RoleBootstrapStack' },
  );
  return ['role-bootstrap', { caller: 'role-bootstrap', arn: arnOf.role('role-bootstrap'), policies: resolver.rolePolicies(roleId) }];
}

/** A log group's ARN in the run: `/aws/lambda/<logical id>`, which no recorded call names (the Lambda runtime writes logs). */
const logGroupArn = (logId: string) => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/${logId}:*`;

let run: RecordedRun;
let decisions: Decision[];
let principals: Map<string, Principal>;
let records: CallRecord[];
let label: (resource: string) => string;

beforeAll(async () => {
  const startedAt = Date.now();
  const lp = leastPrivilegeStack();
  const template = Template.fromStack(lp.stack).toJSON() as TemplateJson;
  const parameterNames = Object.values(template.Resources)
    .filter((r) => r.Type === 'AWS::SSM::Parameter')
    .map((r) => String(r.Properties?.Name));
  const names = {
    boundServicesParameter: parameterNames.find((n) => n.endsWith('/bound-services'))!,
    boundFunctionsParameter: parameterNames.find((n) => n.endsWith('/bound-functions'))!,
  };
  const synthesizedAt = Date.now();
  run = await recordFlows(names);
  process.stdout.write(`least-privilege: synth ${synthesizedAt - startedAt} ms; flows: ${run.timings.join(', ')}\n`);
  records = run.recorder.records;
  run.recorder.write(path.join(__dirname, '..', '..', '.tmp', 'aws-calls', `least-privilege-${Date.now()}.jsonl`));

  const r = run.resources;
  const id = (c: IConstruct) => lp.stack.getLogicalId((c.node.defaultChild ?? c) as CfnElement);
  const ofType = (type: string) => Object.keys(template.Resources).filter((k) => template.Resources[k].Type === type);
  const physical: Record<string, PhysicalResource> = {};
  for (const roleId of ofType('AWS::IAM::Role')) physical[roleId] = { ref: roleId, attributes: { Arn: arnOf.role(roleId) } };
  // The functions' log groups: the Lambda runtime writes to them, no handler calls CloudWatch Logs.
  for (const logId of ofType('AWS::Logs::LogGroup')) {
    physical[logId] = { ref: `/aws/lambda/${logId}`, attributes: { Arn: logGroupArn(logId) } };
  }
  physical[id(lp.db.secret)] = { ref: r.secretArn };
  const keysSecret = ofType('AWS::SecretsManager::Secret').find((k) => k !== id(lp.db.secret))!;
  physical[keysSecret] = { ref: r.keysSecretArn };
  const [user] = ofType('AWS::IAM::User');
  physical[user] = { ref: r.signerUserName, attributes: { Arn: arnOf.user(r.signerUserName) } };
  physical[id(lp.db.rotationFunction)] = { ref: 'least-privilege-rotation', attributes: { Arn: ROTATION_FUNCTION_ARN } };
  lp.services.forEach((s, i) => (physical[id(s)] = { ref: r.serviceArns[i], attributes: { Name: r.serviceArns[i].split('/').pop()! } }));
  physical[id(lp.ecsCluster)] = {
    ref: ECS_CLUSTER_NAME,
    attributes: { Arn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${ECS_CLUSTER_NAME}` },
  };
  physical[id(lp.application)] = { ref: CODE_DEPLOY.application };
  physical[id(lp.group)] = { ref: CODE_DEPLOY.deploymentGroup };
  const clusterArn = `arn:aws:dsql:${REGION}:${ACCOUNT}:cluster/${r.dsqlClusterId}`;
  physical[id(lp.cluster)] = { ref: r.dsqlClusterId, attributes: { Identifier: r.dsqlClusterId, ResourceArn: clusterArn } };
  physical[id(lp.plainFunction)] = { ref: r.plainFunctionArn.split(':').pop(), attributes: { Arn: r.plainFunctionArn } };
  physical[id(lp.aliasedFunction)] = { ref: r.aliasedFunctionArn.split(':').pop(), attributes: { Arn: r.aliasedFunctionArn } };
  physical[id(lp.alias)] = { ref: `${r.aliasedFunctionArn}:${ALIAS_NAME}` };
  const resolver = new TemplateResolver(template, physical, { account: ACCOUNT, region: REGION, stackName: lp.stack.stackName });

  const roleOf = (fn: lambda.IFunction) => id(fn.role as unknown as Construct);
  const fnAt = (suffix: string) =>
    lp.db.node.findAll().find((c): c is lambda.Function => c instanceof lambda.Function && c.node.path.endsWith(suffix))!;
  const role = (caller: string, fn: lambda.IFunction): [string, Principal] => {
    const roleId = roleOf(fn);
    return [caller, { caller, arn: arnOf.role(roleId), policies: resolver.rolePolicies(roleId) }];
  };
  principals = new Map([
    role('rotation', lp.db.rotationFunction),
    role('watchdog', lp.db.watchdogFunction),
    role('first-rotation', fnAt('/InitialRotation/Function')),
    bootstrapPrincipal(r.dsqlClusterId),
    ['signer', { caller: 'signer', arn: arnOf.user(r.signerUserName), policies: resolver.userPolicies(user) }],
    ['cli', { caller: 'cli', arn: arnOf.role('operator'), policies: documentedCliPolicy(r, names.boundServicesParameter) }],
  ]);
  // The run's random names written as what they are, so that the list above reads the same every run.
  const labels: Array<[string, string]> = [
    [r.keysSecretArn, '<keys secret>'],
    [r.secretArn, '<secret>'],
    [arnOf.user(r.signerUserName), '<signer user>'],
    [clusterArn, '<dsql cluster>'],
    [names.boundServicesParameter.slice(1), '<bound-services>'],
    [names.boundFunctionsParameter.slice(1), '<bound-functions>'],
    [`arn:aws:`, ''],
    [`${REGION}:${ACCOUNT}:`, ''],
  ];
  const logGroup = /^arn:aws:logs:[^:]+:\d+:log-group:\/aws\/lambda\/[^:]+:\*$/;
  label = (resource) => labels.reduce((text, [from, to]) => text.split(from).join(to), resource.replace(logGroup, '<its log group>'));
  const evaluatedAt = Date.now();
  decisions = await evaluateCalls(records, { account: ACCOUNT, principals, resourcePolicies: resolver.secretResourcePolicies() });
  process.stdout.write(`least-privilege: ${decisions.length} decisions in ${Date.now() - evaluatedAt} ms\n`);
}, 240_000);

test('the flows ran, and each caller made its calls', () => {
  expect(run.failures).toEqual([]);
  const callers = new Set(records.map((c) => c.caller));
  expect([...callers].sort()).toEqual(['cli', 'first-rotation', 'role-bootstrap', 'rotation', 'signer', 'watchdog']);
  // The calls that matter most were seen, so a flow that silently did less cannot pass.
  const actions = new Set(records.map((c) => `${c.caller} ${c.action}`));
  for (const expected of [
    'rotation secretsmanager:PutSecretValue',
    'rotation ecs:UpdateService',
    'rotation codedeploy:CreateDeployment',
    'rotation lambda:UpdateFunctionConfiguration',
    'rotation lambda:UpdateAlias',
    'rotation iam:CreateAccessKey',
    'rotation iam:DeleteAccessKey',
    'watchdog secretsmanager:RotateSecret',
    'watchdog ecs:UpdateService',
    'watchdog codedeploy:CreateDeployment',
    'watchdog lambda:UpdateFunctionConfiguration',
    'watchdog lambda:UpdateAlias',
    'first-rotation iam:DeleteAccessKey',
    'first-rotation secretsmanager:CancelRotateSecret',
    'cli codedeploy:GetDeployment',
    'cli ecs:ListTasks',
    'watchdog ecs:ListTasks',
    'watchdog ecs:DescribeTasks',
    'watchdog lambda:GetFunctionConfiguration',
    'first-rotation dsql:GetCluster',
    'first-rotation secretsmanager:RotateSecret',
    'cli secretsmanager:RotateSecret',
    'cli ecs:DescribeServices',
    'signer dsql:DbConnectAdmin',
    'role-bootstrap dsql:DbConnectAdmin',
  ]) {
    expect(actions).toContain(expected);
  }
});

test('no recorded call would be denied', () => {
  expect(decisions.length).toBeGreaterThan(records.length / 2);
  expect(denials(decisions)).toEqual([]);
});

test('every granted action was used, or is listed with why it stays', () => {
  const unused = unusedGrants(decisions, principals, label);
  process.stdout.write(`granted, not used:\n${unused.map((u) => `  ${u}: ${UNUSED_BUT_NEEDED[u] ?? 'NOT JUSTIFIED'}`).join('\n')}\n`);
  expect(unused.filter((u) => !(u in UNUSED_BUT_NEEDED))).toEqual([]);
  expect(Object.keys(UNUSED_BUT_NEEDED).filter((u) => !unused.includes(u))).toEqual([]);
});
