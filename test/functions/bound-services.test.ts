import 'aws-sdk-client-mock-jest';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { loadBoundServices } from '../../functions/bound-services';
import { awsError, BOUND_SERVICES_PARAMETER, serviceArn } from './fixtures';
import { boundServices } from './fixtures-ecs';

const ssmMock = mockClient(SSMClient);
const ssm = new SSMClient({ region: 'us-east-1' });

beforeEach(() => ssmMock.reset());
afterAll(() => ssmMock.restore());

function parameterHolds(value: string): void {
  ssmMock.on(GetParameterCommand).resolves({ Parameter: { Name: BOUND_SERVICES_PARAMETER, Type: 'String', Value: value } });
}

describe('loadBoundServices', () => {
  test('reads the JSON array of service ARNs from the named parameter', async () => {
    const arns = [serviceArn('c1', 'a'), serviceArn('c2', 'b')];
    boundServices(ssmMock, arns);

    await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER)).resolves.toEqual(arns);
    expect(ssmMock).toHaveReceivedCommandWith(GetParameterCommand, { Name: BOUND_SERVICES_PARAMETER });
  });

  test('a parameter that does not exist yet (first rotation) means no service', async () => {
    boundServices(ssmMock, undefined);

    await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER)).resolves.toEqual([]);
  });

  test('any other SSM error is not swallowed', async () => {
    ssmMock.on(GetParameterCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform ssm:GetParameter'));

    await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER)).rejects.toThrow('ssm:GetParameter');
  });

  test.each(['{"arn":"x"}', '"arn:aws:ecs:us-east-1:1:service/c/s"', '[1,2]', '[null]', 'null'])(
    'a value of %s is rejected as not a JSON array of ARNs, naming the parameter',
    async (raw) => {
      parameterHolds(raw);

      await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER)).rejects.toThrow(
        `SSM parameter ${BOUND_SERVICES_PARAMETER} must hold a JSON array of ECS service ARNs`,
      );
    },
  );

  test('a value that is not JSON at all is an error that names the parameter', async () => {
    parameterHolds('arn:aws:ecs:us-east-1:123456789012:service/c/s');

    await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER)).rejects.toThrow(BOUND_SERVICES_PARAMETER);
  });

  test('several chunks are read in order and joined; a missing later chunk keeps the ones read', async () => {
    const first = [serviceArn('c1', 'a'), serviceArn('c1', 'b')];
    const second = [serviceArn('c2', 'c')];
    ssmMock
      .on(GetParameterCommand, { Name: BOUND_SERVICES_PARAMETER })
      .resolves({ Parameter: { Name: BOUND_SERVICES_PARAMETER, Value: JSON.stringify(first) } });
    ssmMock
      .on(GetParameterCommand, { Name: `${BOUND_SERVICES_PARAMETER}-2` })
      .resolves({ Parameter: { Name: `${BOUND_SERVICES_PARAMETER}-2`, Value: JSON.stringify([...second, first[0]]) } });
    ssmMock
      .on(GetParameterCommand, { Name: `${BOUND_SERVICES_PARAMETER}-3` })
      .rejects(awsError('ParameterNotFound', 'Parameter not found'));

    await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER, 3)).resolves.toEqual([...first, ...second]);
    expect(ssmMock).toHaveReceivedCommandTimes(GetParameterCommand, 3);
  });
});
