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

    await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER)).resolves.toEqual({ codeDeploy: new Map(), arns, invalid: [] });
    expect(ssmMock).toHaveReceivedCommandWith(GetParameterCommand, { Name: BOUND_SERVICES_PARAMETER });
  });

  test('a parameter that does not exist yet (first rotation) means no service', async () => {
    boundServices(ssmMock, undefined);

    await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER)).resolves.toEqual({ codeDeploy: new Map(), arns: [], invalid: [] });
  });

  test('any other SSM error is not swallowed', async () => {
    ssmMock.on(GetParameterCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform ssm:GetParameter'));

    await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER)).rejects.toThrow('ssm:GetParameter');
  });

  test.each([
    ['{"arn":"x"}', [{ parameter: BOUND_SERVICES_PARAMETER, entry: '{"arn":"x"}' }]],
    ['"arn:aws:ecs:us-east-1:1:service/c/s"', [{ parameter: BOUND_SERVICES_PARAMETER, entry: '"arn:aws:ecs:us-east-1:1:service/c/s"' }]],
    [
      '[1,2]',
      [
        { parameter: BOUND_SERVICES_PARAMETER, index: 0, entry: '1' },
        { parameter: BOUND_SERVICES_PARAMETER, index: 1, entry: '2' },
      ],
    ],
    ['[null]', [{ parameter: BOUND_SERVICES_PARAMETER, index: 0, entry: 'null' }]],
    ['null', [{ parameter: BOUND_SERVICES_PARAMETER, entry: 'null' }]],
  ])('a value of %s is reported entry by entry, naming the parameter, not thrown', async (raw, invalid) => {
    parameterHolds(raw);

    await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER)).resolves.toEqual({ codeDeploy: new Map(), arns: [], invalid });
  });

  test('a value that is not JSON at all is one invalid entry that names the parameter', async () => {
    parameterHolds('arn:aws:ecs:us-east-1:123456789012:service/c/s');

    await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER)).resolves.toEqual({
      codeDeploy: new Map(),
      arns: [],
      invalid: [{ parameter: BOUND_SERVICES_PARAMETER, entry: 'arn:aws:ecs:us-east-1:123456789012:service/c/s' }],
    });
  });

  test('a null entry among ARNs: the ARNs are returned, the entry is named by parameter and position and logged', async () => {
    const arns = [serviceArn('c1', 'a'), serviceArn('c2', 'b')];
    parameterHolds(JSON.stringify([arns[0], null, arns[1], { service: 'x' }]));
    const lines: string[] = [];
    const spy = jest.spyOn(console, 'log').mockImplementation((line: string) => {
      lines.push(line);
    });
    try {
      await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER)).resolves.toEqual({
        codeDeploy: new Map(),
        arns,
        invalid: [
          { parameter: BOUND_SERVICES_PARAMETER, index: 1, entry: 'null' },
          { parameter: BOUND_SERVICES_PARAMETER, index: 3, entry: '{"service":"x"}' },
        ],
      });
    } finally {
      spy.mockRestore();
    }
    const errors = lines.map((l) => JSON.parse(l)).filter((r) => r.level === 'ERROR');
    expect(errors.map((r) => r.entry)).toEqual([
      `entry 1 of ${BOUND_SERVICES_PARAMETER} (null)`,
      `entry 3 of ${BOUND_SERVICES_PARAMETER} ({"service":"x"})`,
    ]);
  });

  test('a malformed chunk does not hide the services of the others', async () => {
    const first = [serviceArn('c1', 'a')];
    const third = [serviceArn('c3', 'c')];
    ssmMock.on(GetParameterCommand, { Name: BOUND_SERVICES_PARAMETER }).resolves({ Parameter: { Value: JSON.stringify(first) } });
    ssmMock.on(GetParameterCommand, { Name: `${BOUND_SERVICES_PARAMETER}-2` }).resolves({ Parameter: { Value: 'oops' } });
    ssmMock.on(GetParameterCommand, { Name: `${BOUND_SERVICES_PARAMETER}-3` }).resolves({ Parameter: { Value: JSON.stringify(third) } });

    await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER, 3)).resolves.toEqual({
      codeDeploy: new Map(),
      arns: [...first, ...third],
      invalid: [{ parameter: `${BOUND_SERVICES_PARAMETER}-2`, entry: 'oops' }],
    });
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

    await expect(loadBoundServices(ssm, BOUND_SERVICES_PARAMETER, 3)).resolves.toEqual({
      codeDeploy: new Map(),
      arns: [...first, ...second],
      invalid: [],
    });
    expect(ssmMock).toHaveReceivedCommandTimes(GetParameterCommand, 3);
  });
});

test('a service bound with a CodeDeploy deployment group: its ARN is listed and its group returned by ARN', async () => {
  const web = serviceArn('c1', 'web');
  const api = serviceArn('c1', 'api');
  parameterHolds(JSON.stringify([api, { service: web, codeDeploy: { application: 'shop', deploymentGroup: 'web-bg' } }]));

  const loaded = await loadBoundServices(ssm, BOUND_SERVICES_PARAMETER);

  expect(loaded.arns).toEqual([api, web]);
  expect([...loaded.codeDeploy]).toEqual([[web, { application: 'shop', deploymentGroup: 'web-bg' }]]);
  expect(loaded.invalid).toEqual([]);
});
