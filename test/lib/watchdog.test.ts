import * as cdk from 'aws-cdk-lib';
import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { FunctionBundle, METRICS_NAMESPACE } from '../../lib/contract';
import { DsqlUrlSecret, DsqlUrlSecretProps, TokenSigner } from '../../lib';
import { bundleOfFunction, functionId } from './function-bundle';
import { CONFIG_FIELDS, functionConfig } from './function-config';
import { givenService, givenStack } from './stack-fixture';

/** Every statement of the policies attached to the watchdog's role. */
function watchdogStatements(stack: cdk.Stack): Array<{ Action: string | string[]; Resource: unknown; Condition?: unknown }> {
  return Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles ?? []).includes('DbWatchdogFunctionServiceRole'))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

/** Resources by logical id, each with the ids it references (Ref, Fn::GetAtt) or depends on. */
function dependencyGraph(stack: cdk.Stack): Map<string, Set<string>> {
  const resources: Record<string, { DependsOn?: string | string[] }> = Template.fromStack(stack).toJSON().Resources;
  const graph = new Map<string, Set<string>>();
  for (const [id, resource] of Object.entries(resources)) {
    const refs = new Set<string>([resource.DependsOn ?? []].flat());
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === 'object') {
        for (const [k, inner] of Object.entries(v)) {
          if (k === 'Ref' && typeof inner === 'string' && inner in resources) refs.add(inner);
          else if (k === 'Fn::GetAtt' && Array.isArray(inner)) refs.add(String(inner[0]));
          else walk(inner);
        }
      }
    };
    walk((resource as { Properties?: unknown }).Properties);
    graph.set(id, refs);
  }
  return graph;
}

/** Whether `to` is reachable from `from`. */
function reaches(graph: Map<string, Set<string>>, from: string, to: string): boolean {
  const seen = new Set<string>();
  const stack = [...(graph.get(from) ?? [])];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (id === to) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(graph.get(id) ?? []));
  }
  return false;
}

describe('watchdog', () => {
  test('runs every watchdogInterval and rotates before rollout + interval + stale-pending wait + margin remain', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, watchdogInterval: Duration.minutes(3), rolloutAllowance: Duration.minutes(20) });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(3 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DbWatchdogFunction'), 'Arn'] } })],
    });
    const watchdogId = functionId(stack, 'DbWatchdogFunction');
    expect(bundleOfFunction(stack, watchdogId)).toBe(FunctionBundle.WATCHDOG);
    expect(t.findResources('AWS::Lambda::Function')[watchdogId].Properties.Handler).toBe('index.handler');
    expect(functionConfig(stack, 'DbWatchdogFunction')).toMatchObject({
      secretArn: { Ref: expect.stringMatching(/DbSecret/) },
      // Noticed up to 3 min late, 15 min to clear a failed rotation, 5 min margin, then the rollout and the heal (20 + 3 + 20).
      rotateBeforeExpirySeconds: (3 + 15 + 5 + 20 + 3 + 20) * 60,
    });
  });

  test('its configuration has exactly the fields the watchdog reads, the connect timeout and stale-pending wait included', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const cfg = functionConfig(stack, 'DbWatchdogFunction');
    expect(Object.keys(cfg).sort()).toEqual(CONFIG_FIELDS.watchdog);
    expect(cfg).toMatchObject({ connectTimeoutSeconds: 10, stalePendingSeconds: 15 * 60 });
    // The same dimension as the rotation function's, which the alarms watch.
    expect(cfg.metricDimension).toBe(functionConfig(stack, 'DbRotationFunction').metricDimension);
  });

  test('may read, rotate and unblock this secret, and invoke this rotation function only', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const policies = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles ?? []).includes('DbWatchdogFunctionServiceRole'),
    );
    const statements: Array<{ Action: string | string[]; Resource: unknown }> = policies.flatMap(
      (p) => p.Properties.PolicyDocument.Statement,
    );
    const rotate = statements.find((s) => ([] as string[]).concat(s.Action).includes('secretsmanager:RotateSecret'));
    expect(rotate?.Resource).toEqual({ Ref: expect.stringMatching(/^DbSecret/) });
    const invoke = statements.find((s) => s.Action === 'lambda:InvokeFunction');
    expect(invoke?.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DbRotationFunction/), 'Arn'] });
    expect(JSON.stringify(statements)).not.toMatch(/"\*"|dsql:/);
  });

  test('its configuration carries the bound-services parameters, rolloutAllowance and the redeploy concurrency; its timeout is one interval', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', {
      cluster,
      rolloutAllowance: Duration.minutes(20),
      redeployConcurrency: 3,
      watchdogInterval: Duration.minutes(2),
    });
    const watchdog = functionConfig(stack, 'DbWatchdogFunction');
    const rotation = functionConfig(stack, 'DbRotationFunction');
    expect(watchdog).toMatchObject({
      boundServicesParameter: rotation.boundServicesParameter,
      boundServicesParameterCount: rotation.boundServicesParameterCount,
      rolloutAllowanceSeconds: 20 * 60,
      redeployConcurrency: 3,
    });
    expect(
      Template.fromStack(stack).findResources('AWS::Lambda::Function')[functionId(stack, 'DbWatchdogFunction')].Properties.Timeout,
    ).toBe(120);
  });

  test.each([
    [Duration.minutes(1), 60],
    [Duration.minutes(5), 300],
    [Duration.minutes(30), 300],
  ])('with a %s interval the timeout is %i s: never longer than an interval, at most 5 minutes', (interval, seconds) => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, watchdogInterval: interval });
    expect(
      Template.fromStack(stack).findResources('AWS::Lambda::Function')[functionId(stack, 'DbWatchdogFunction')].Properties.Timeout,
    ).toBe(seconds);
  });

  test('may read the bound-services parameters with GetParameters: <base> and <base>-* only', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const base = functionConfig(stack, 'DbWatchdogFunction').boundServicesParameter as string;
    const statements = watchdogStatements(stack);
    const read = statements.filter(
      (s) => ([] as string[]).concat(s.Action).includes('ssm:GetParameters') && JSON.stringify(s.Resource).includes('/bound-services'),
    );
    expect(read).toHaveLength(1);
    expect(read[0].Action).toBe('ssm:GetParameters');
    const resources = JSON.stringify(read[0].Resource);
    expect(resources).toContain(`:parameter${base}"`);
    expect(resources).toContain(`:parameter${base}-*"`);
    expect(read[0].Resource).toHaveLength(2);
  });

  test('the fleet-token alarm: FleetTokenSecondsLeft (Minimum, one interval) below rolloutAllowance + interval; missing data not breaching', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, watchdogInterval: Duration.minutes(4), rolloutAllowance: Duration.minutes(25) });
    const t = Template.fromStack(stack);
    const alarms = t.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'FleetTokenSecondsLeft' } });
    expect(Object.values(alarms)).toHaveLength(1);
    expect(Object.values(alarms)[0].Properties).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      Dimensions: [{ Name: 'Secret', Value: functionConfig(stack, 'DbWatchdogFunction').metricDimension }],
      Statistic: 'Minimum',
      Period: 4 * 60,
      Threshold: (25 + 4) * 60,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(stack.getLogicalId(db.fleetTokenAlarm.node.defaultChild as cdk.CfnElement)).toBe(Object.keys(alarms)[0]);
  });

  describe('the fleet check ECS permissions, with bound services', () => {
    function bound(props: Partial<DsqlUrlSecretProps> = {}) {
      const { stack, cluster, ecsCluster } = givenStack();
      const db = new DsqlUrlSecret(stack, 'Db', { cluster, ...props });
      db.redeployOnRotation(givenService(stack, ecsCluster, 'A', db.ecsSecret()));
      db.redeployOnRotation(givenService(stack, ecsCluster, 'B', db.ecsSecret()));
      return { stack, ecsClusterId: stack.getLogicalId(ecsCluster.node.defaultChild as cdk.CfnElement) };
    }
    const actionsOf = (s: { Action: string | string[] }) => ([] as string[]).concat(s.Action);

    test('DescribeServices and UpdateService on the bound services, through the redeploy policy the rotation function has', () => {
      const { stack } = bound();
      const redeploy = watchdogStatements(stack).find((s) => actionsOf(s).includes('ecs:UpdateService'));
      expect(actionsOf(redeploy!).sort()).toEqual(['ecs:DescribeServices', 'ecs:UpdateService']);
      expect(JSON.stringify(redeploy!.Resource)).toMatch(/AService.*BService|BService.*AService/);
      const policies = Template.fromStack(stack).findResources('AWS::IAM::Policy', {
        Properties: { PolicyName: Match.stringLikeRegexp('^redeploy-') },
      });
      // One policy for both roles: the same services, one size budget.
      expect(Object.values(policies)).toHaveLength(1);
      const roles = JSON.stringify(Object.values(policies)[0].Properties.Roles);
      expect(roles).toMatch(/DbWatchdogFunctionServiceRole/);
      expect(roles).toMatch(/DbRotationFunctionServiceRole/);
    });

    test('DescribeTasks on task/<cluster>/*, ListTasks only with the ecs:cluster condition naming the cluster', () => {
      const { stack, ecsClusterId } = bound({ signer: TokenSigner.rotationFunctionRole() });
      const statements = watchdogStatements(stack);
      const describe = statements.find((s) => actionsOf(s).includes('ecs:DescribeTasks'))!;
      const list = statements.find((s) => actionsOf(s).includes('ecs:ListTasks'))!;
      expect(describe.Action).toBe('ecs:DescribeTasks');
      expect(list.Action).toBe('ecs:ListTasks');
      const resource = (s: { Resource: unknown }) => JSON.stringify(s.Resource);
      expect(resource(describe)).toMatch(/:task\/"/);
      expect(resource(describe)).toContain(ecsClusterId);
      expect(resource(describe)).toContain('/*');
      expect(list.Resource).toBe('*');
      expect(JSON.stringify(list.Condition)).toMatch(/"ArnEquals":\{"ecs:cluster":/);
      expect(JSON.stringify(list.Condition)).toContain(ecsClusterId);
      // The one '*' resource is ListTasks', bounded by its condition.
      expect(statements.filter((s) => JSON.stringify(s.Resource) === '"*"').map((s) => s.Action)).toEqual(['ecs:ListTasks']);
      // With the role signer the rotation function lists no task: only the watchdog reads them.
      const taskPolicies = Template.fromStack(stack).findResources('AWS::IAM::Policy', {
        Properties: { PolicyName: Match.stringLikeRegexp('^read-tasks-') },
      });
      const roles = JSON.stringify(Object.values(taskPolicies).map((p) => p.Properties.Roles));
      expect(roles).toMatch(/DbWatchdogFunctionServiceRole/);
      expect(roles).not.toMatch(/DbRotationFunctionServiceRole/);
    });

    test('with the access-key signer the rotation function reads the tasks too (its key guard), from the same policy', () => {
      const { stack } = bound({ signer: TokenSigner.managedAccessKey() });
      const taskPolicies = Object.values(
        Template.fromStack(stack).findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^read-tasks-') } }),
      );
      expect(taskPolicies).toHaveLength(1);
      const roles = JSON.stringify(taskPolicies[0].Properties.Roles);
      expect(roles).toMatch(/DbWatchdogFunctionServiceRole/);
      expect(roles).toMatch(/DbRotationFunctionServiceRole/);
    });

    test('no dependency cycle: the first rotation does not wait for the watchdog, the services do not wait for it either', () => {
      const { stack } = bound();
      const graph = dependencyGraph(stack);
      const id = (prefix: string) => [...graph.keys()].find((k) => k.startsWith(prefix))!;
      const watchdog = id('DbWatchdogFunction');
      for (const [resource] of graph) expect(reaches(graph, resource, resource)).toBe(false);
      expect(reaches(graph, id('DbInitialRotation'), watchdog)).toBe(false);
      expect(reaches(graph, id('AService'), watchdog)).toBe(false);
      // The graph is real: the services do wait for the first rotation.
      expect(reaches(graph, id('AService'), id('DbInitialRotation'))).toBe(true);
    });
  });

  test('the token-check alarm fires on two consecutive failed checks', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRICS_NAMESPACE,
      MetricName: 'TokenCheckFailed',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(db.tokenCheckAlarm.alarmArn).toBeDefined();
  });

  describe('the watchdog-failed alarm', () => {
    function failedAlarm(interval?: Duration) {
      const { stack, cluster } = givenStack();
      const db = new DsqlUrlSecret(stack, 'Db', { cluster, watchdogInterval: interval });
      const t = Template.fromStack(stack);
      const alarms = t.findResources('AWS::CloudWatch::Alarm', {
        Properties: { Metrics: Match.arrayWith([Match.objectLike({ Id: 'invocations' })]) },
      });
      expect(Object.keys(alarms)).toHaveLength(1);
      return { db, stack, id: Object.keys(alarms)[0], alarm: Object.values(alarms)[0].Properties };
    }

    test('fires on errors or no invocation in 2 of 3 watchdog intervals; missing data is breaching', () => {
      const { db, stack, alarm } = failedAlarm(Duration.minutes(7));
      const watchdog = { Ref: functionId(stack, 'DbWatchdogFunction') };
      expect(alarm).toMatchObject({
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        TreatMissingData: 'breaching',
      });
      const byId = Object.fromEntries(alarm.Metrics.map((m: { Id: string }) => [m.Id, m]));
      expect(Object.keys(byId).sort()).toEqual(['errors', 'expr_1', 'invocations']);
      expect(byId.expr_1).toMatchObject({ Expression: 'FILL(errors, 0) + IF(FILL(invocations, 0) < 1, 1, 0)', ReturnData: true });
      for (const [id, name] of [
        ['errors', 'Errors'],
        ['invocations', 'Invocations'],
      ]) {
        expect(byId[id]).toMatchObject({
          ReturnData: false,
          MetricStat: {
            Metric: { Namespace: 'AWS/Lambda', MetricName: name, Dimensions: [{ Name: 'FunctionName', Value: watchdog }] },
            Period: 7 * 60,
            Stat: 'Sum',
          },
        });
      }
      expect(db.watchdogFailedAlarm.alarmArn).toBeDefined();
    });

    test('watches the watchdog function only, not the rotation function, and has no actions of its own', () => {
      const { stack, alarm } = failedAlarm();
      expect(JSON.stringify(alarm)).not.toContain(functionId(stack, 'DbRotationFunction'));
      expect(alarm.AlarmActions).toBeUndefined();
      expect(alarm.AlarmDescription).toMatch(/watchdog failed or did not run/);
    });

    test('is the construct member, so users can add actions', () => {
      const { db, stack, id } = failedAlarm();
      expect(stack.getLogicalId(db.watchdogFailedAlarm.node.defaultChild as cdk.CfnElement)).toBe(id);
    });
  });
});
