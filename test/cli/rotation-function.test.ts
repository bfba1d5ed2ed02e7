import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { createClients } from '../../cli/aws';
import { functionNameOf, rotationLogGroup } from '../../cli/rotation-function';
import { awsError } from './fixtures';

const ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:AppStack-RotationFunction';
const LOG_GROUP = 'AppStack-DatabaseUrlRotationFunctionLogGroup5A3C1F2E-Xy9AbCdEf012';
const lambdaMock = mockClient(LambdaClient);
const clients = createClients({ region: 'eu-west-1' });

beforeEach(() => lambdaMock.reset());
afterAll(() => {
  lambdaMock.restore();
  clients.destroy();
});

test('the function name, from a Lambda ARN', () => {
  expect(functionNameOf(ARN)).toBe('AppStack-RotationFunction');
});

test("the log group is the one the function's logging configuration names (the construct's own, named by CloudFormation)", async () => {
  lambdaMock.on(GetFunctionConfigurationCommand).resolves({ LoggingConfig: { LogFormat: 'JSON', LogGroup: LOG_GROUP } });

  expect(await rotationLogGroup(clients, ARN)).toBe(LOG_GROUP);
  expect(lambdaMock).toHaveReceivedCommandWith(GetFunctionConfigurationCommand, { FunctionName: ARN });
});

test('a configuration that names no log group: Lambda writes to its default, /aws/lambda/<name>', async () => {
  lambdaMock.on(GetFunctionConfigurationCommand).resolves({ FunctionArn: ARN });

  expect(await rotationLogGroup(clients, ARN)).toBe('/aws/lambda/AppStack-RotationFunction');
});

test('the lookup denied: the hint says where the name is instead of failing or guessing it', async () => {
  lambdaMock.on(GetFunctionConfigurationCommand).rejects(awsError('AccessDeniedException', 'not authorized', 403));

  expect(await rotationLogGroup(clients, ARN)).toBe('the log group in the logging configuration of function AppStack-RotationFunction');
});

test('no ARN, or one without a function name: undefined, so the hint falls back to words, and Lambda is not asked', async () => {
  for (const arn of [undefined, null, '', 'arn:aws:lambda:eu-west-1:123456789012']) {
    expect(functionNameOf(arn)).toBeUndefined();
    expect(await rotationLogGroup(clients, arn)).toBeUndefined();
  }
  expect(lambdaMock).toHaveReceivedCommandTimes(GetFunctionConfigurationCommand, 0);
});
