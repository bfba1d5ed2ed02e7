import { Match, Template } from 'aws-cdk-lib/assertions';
import { FunctionBundle } from '../../lib/contract';
import { DsqlUrlSecret, TokenSigner } from '../../lib';
import { bundleOfFunction, functionId } from './function-bundle';
import { CONFIG_FIELDS, functionConfig } from './function-config';
import { givenService, givenStack } from './stack-fixture';

describe('first rotation during deployment', () => {
  test('a custom resource runs it after the rotation schedule exists, and bound services wait for it', () => {
    const { stack, cluster, ecsCluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    db.redeployOnRotation(givenService(stack, ecsCluster, 'App', db.ecsSecret()));
    const t = Template.fromStack(stack);
    const [customId, custom] = Object.entries(t.findResources('Custom::DsqlUrlSecretInitialRotation'))[0];
    expect(custom.Properties.ServiceToken).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DbInitialRotationFunction/), 'Arn'] });
    expect(custom.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/DbSecretRotationSchedule/)]));
    const service = Object.values(t.findResources('AWS::ECS::Service'))[0];
    expect(service.DependsOn).toContain(customId);
    t.hasResourceProperties('AWS::Lambda::Function', { Handler: 'index.handler', Timeout: 660 });
    const fnId = functionId(stack, 'DbInitialRotationFunction');
    expect(t.findResources('AWS::Lambda::Function')[fnId].Properties).toMatchObject({ Handler: 'index.handler', Timeout: 660 });
    expect(bundleOfFunction(stack, fnId)).toBe(FunctionBundle.INITIAL_ROTATION);
  });

  test('its configuration has exactly the fields the function reads: the secret, a 600 s wait, no signer user with the role signer', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.rotationFunctionRole() });
    const cfg = functionConfig(stack, 'DbInitialRotationFunction');
    expect(Object.keys(cfg).sort()).toEqual(CONFIG_FIELDS.initialRotation);
    // The log group a failed wait points to is the one the rotation function writes to.
    const rotationFn = Template.fromStack(stack).toJSON().Resources[functionId(stack, 'DbRotationFunction')];
    expect(rotationFn.Properties.LoggingConfig.LogGroup).toEqual({ Ref: expect.stringMatching(/^DbRotationFunctionLogs/) });
    expect(cfg).toEqual({
      secretArn: { Ref: expect.stringMatching(/^DbSecret/) },
      rotationLogGroupName: rotationFn.Properties.LoggingConfig.LogGroup,
      timeoutSeconds: 600,
      signerUserName: null,
      clusterIdentifier: { Ref: expect.stringMatching(/^Cluster/) },
      clusterRegion: 'eu-west-1',
      redriveAfterSeconds: 180,
      maxRotationAttempts: 3,
      roleGrantCheck: null,
    });

    // The default signer, the managed user: its keys are removed on Delete.
    const withKey = givenStack();
    new DsqlUrlSecret(withKey.stack, 'Db', { cluster: withKey.cluster });
    expect(functionConfig(withKey.stack, 'DbInitialRotationFunction').signerUserName).toEqual({
      Ref: expect.stringMatching(/^DbSignerUser/),
    });
  });

  test('the native schedule does not also rotate at creation', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    Template.fromStack(stack).hasResourceProperties('AWS::SecretsManager::RotationSchedule', { RotateImmediatelyOnUpdate: false });
  });

  test('its only inputs are the secret and what shapes the URL, so other stack updates neither rerun it nor touch services', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    Template.fromStack(stack).hasResourceProperties('Custom::DsqlUrlSecretInitialRotation', {
      ServiceToken: Match.anyValue(),
      SecretArn: { Ref: Match.stringLikeRegexp('DbSecret') },
    });
    const custom = Object.values(Template.fromStack(stack).findResources('Custom::DsqlUrlSecretInitialRotation'))[0];
    // UrlSettings and SignerArn change only with the configuration (see configuration-change.test.ts).
    // ServiceTimeout is CloudFormation's own (how long it waits for an answer), not an input of the handler.
    expect(Object.keys(custom.Properties).sort()).toEqual(['SecretArn', 'ServiceTimeout', 'ServiceToken', 'SignerArn', 'UrlSettings']);
  });
});
