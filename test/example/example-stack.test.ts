import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Aspects } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ExampleStack } from '../../example/example-stack';

function synthExample(): { app: App; stack: ExampleStack } {
  const app = new App();
  const stack = new ExampleStack(app, 'Example', { env: { region: 'us-east-1' } });
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  app.synth();
  return { app, stack };
}

describe('example app', () => {
  const { stack } = synthExample();
  const template = Template.fromStack(stack);

  test('has a DSQL cluster, a Fargate service fed from the secret, and the rotation wiring', () => {
    template.resourceCountIs('AWS::DSQL::Cluster', 1);
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
    template.hasResourceProperties('AWS::ECS::Service', { LaunchType: 'FARGATE' });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Secrets: [Match.objectLike({ Name: 'DATABASE_URL' })] })],
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: [Match.objectLike({ Action: ['ecs:UpdateService', 'ecs:DescribeServices'] })] },
    });
  });

  test('has a Lambda consumer: DATABASE_URL resolves AWSCURRENT at deploy, and the rotation may update that function only', () => {
    const functions = template.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { DATABASE_URL: Match.anyValue() } } },
    });
    const ids = Object.keys(functions);
    expect(ids).toHaveLength(1);
    const reference = JSON.stringify(stack.resolve(functions[ids[0]].Properties.Environment.Variables.DATABASE_URL));
    expect(reference).toContain('{{resolve:secretsmanager:');
    expect(reference).toContain(':SecretString:url::}}');
    // Created after the first rotation, so it never starts without a URL.
    expect(functions[ids[0]].DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^DatabaseUrlInitialRotation/)]));
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          {
            Action: ['lambda:GetFunctionConfiguration', 'lambda:UpdateFunctionConfiguration'],
            Effect: 'Allow',
            Resource: { 'Fn::GetAtt': [ids[0], 'Arn'] },
          },
        ],
      },
    });
  });

  test('cdk-nag AwsSolutions: no unsuppressed errors or warnings, and every suppression has a reason', () => {
    const errors = Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-'));
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-'));
    expect(errors.map((e) => `${e.id}: ${e.entry.data}`)).toEqual([]);
    expect(warnings.map((w) => `${w.id}: ${w.entry.data}`)).toEqual([]);
    const suppressed = Object.values(
      template.toJSON().Resources as Record<string, { Metadata?: { cdk_nag?: { rules_to_suppress?: Array<{ reason: string }> } } }>,
    ).flatMap((r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? []);
    expect(suppressed.length).toBeGreaterThan(0);
    for (const rule of suppressed) expect(rule.reason.length).toBeGreaterThan(20);
  });

  test('cfn-lint reports no errors', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfn-lint-'));
    const file = path.join(dir, 'template.json');
    fs.writeFileSync(file, JSON.stringify(template.toJSON()));
    const run = spawnSync('cfn-lint', ['--format', 'parseable', file], { encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    if (run.error) throw new Error(`cfn-lint could not run (${run.error.message}); it ships on this project's machines, see FACTS.md`);
    // cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational.
    const errors = run.stdout.split('\n').filter((l) => /:E\d{4}:/.test(l));
    expect(errors).toEqual([]);
    expect(run.status! & 2).toBe(0);
  });
});
