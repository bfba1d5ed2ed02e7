/**
 * A configuration change on a live stack: the secret's template value never
 * changes (CloudFormation would write an empty AWSCURRENT), while the
 * first-rotation custom resource's properties change with everything that
 * shapes the URL, so CloudFormation sends it an Update that rotates.
 */
import * as dsql from 'aws-cdk-lib/aws-dsql';
import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { PLACEHOLDER_SECRET_VALUE } from '../../lib/configuration-change';
import { DatabaseRole, DsqlUrlSecret, DsqlUrlSecretProps, TokenSigner } from '../../lib';
import { functionConfig } from './function-config';
import { givenStack } from './stack-fixture';

type PropsChange = Partial<DsqlUrlSecretProps> | ((stack: Stack) => Partial<DsqlUrlSecretProps>);

/** One synthesis: the secret's SecretString, the custom resource's properties and its DependsOn, resolved. */
function synth(change: PropsChange = {}) {
  const { stack, cluster } = givenStack();
  const extra = typeof change === 'function' ? change(stack) : change;
  new DsqlUrlSecret(stack, 'Db', { cluster, ...extra });
  const t = Template.fromStack(stack);
  const secret = Object.values(t.findResources('AWS::SecretsManager::Secret'))[0];
  const [customId, custom] = Object.entries(t.findResources('Custom::DsqlUrlSecretInitialRotation'))[0];
  const { ServiceToken: _token, ...properties } = custom.Properties as Record<string, unknown>;
  return {
    stack,
    template: t,
    customId,
    secretString: stack.resolve(secret.Properties.SecretString) as string,
    properties: stack.resolve(properties) as Record<string, unknown>,
    dependsOn: custom.DependsOn as string[],
  };
}

const URL_CHANGES: Array<[string, PropsChange]> = [
  ['database', { database: 'orders' }],
  ['databaseRole', { databaseRole: DatabaseRole.custom('app_rw') }],
  ['urlParameters', { urlParameters: { sslmode: 'verify-full', uselibpqcompat: 'true' } }],
  ['cluster', (stack) => ({ cluster: new dsql.CfnCluster(stack, 'OtherCluster', {}) })],
  // From the default, TokenSigner.managedAccessKey().
  ['signer', { signer: TokenSigner.rotationFunctionRole() }],
];

describe('a configuration change', () => {
  test.each(URL_CHANGES)('of %s keeps the same secret value and changes the first rotation trigger', (_prop, change) => {
    const before = synth();
    const after = synth(change);
    expect(after.secretString).toBe(before.secretString);
    expect(JSON.parse(after.secretString)).toEqual(PLACEHOLDER_SECRET_VALUE);
    expect(after.properties).not.toEqual(before.properties);
    expect(after.properties.SecretArn).toEqual(before.properties.SecretArn);
  });

  test.each<[string, PropsChange]>([
    ['rotationInterval', { rotationInterval: Duration.hours(5) }],
    ['tokenLifetime', { tokenLifetime: Duration.hours(12) }],
    ['rolloutAllowance', { rolloutAllowance: Duration.minutes(20) }],
    ['redeployConcurrency', { redeployConcurrency: 10 }],
    ['watchdogInterval', { watchdogInterval: Duration.minutes(10) }],
  ])('of %s (which does not shape the URL) changes neither the secret value nor the trigger', (_prop, change) => {
    const before = synth();
    const after = synth(change);
    expect(after.secretString).toBe(before.secretString);
    expect(after.properties).toEqual(before.properties);
  });

  test("the trigger carries exactly the rotation function's URL settings and the signer", () => {
    const s = synth({ database: 'orders', databaseRole: DatabaseRole.custom('app_rw'), urlParameters: { sslmode: 'verify-full' } });
    const cfg = functionConfig(s.stack, 'DbRotationFunction');
    expect(s.properties.UrlSettings).toEqual(
      s.stack.resolve({
        Host: cfg.host,
        Port: String(cfg.port),
        Database: 'orders',
        Username: 'app_rw',
        UrlQuery: 'sslmode=verify-full',
      }),
    );
    expect(s.properties.SignerArn).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DbSignerUser/), 'Arn'] });
    expect(synth({ signer: TokenSigner.rotationFunctionRole() }).properties.SignerArn).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^DbRotationFunctionServiceRole/), 'Arn'],
    });
  });

  test("the rotation it runs sees the function's new configuration and permissions: it depends on the function and its policy", () => {
    const s = synth();
    const ids = Object.keys(s.template.findResources('AWS::Lambda::Function')).filter((id) => id.startsWith('DbRotationFunction'));
    const policies = Object.keys(s.template.findResources('AWS::IAM::Policy')).filter((id) => id.startsWith('DbRotationFunction'));
    expect(ids).toHaveLength(1);
    expect(policies.length).toBeGreaterThan(0);
    expect(s.dependsOn).toEqual(expect.arrayContaining([...ids, ...policies]));
  });
});
