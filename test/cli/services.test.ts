import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { createClients } from '../../cli/aws';
import { loadBoundServices } from '../../cli/services';

const ssmMock = mockClient(SSMClient);
afterAll(() => ssmMock.restore());

const arn = (cluster: string, name: string) => `arn:aws:ecs:us-east-1:123456789012:service/${cluster}/${name}`;
const notFound = () => Object.assign(new Error('Parameter not found'), { name: 'ParameterNotFound' });

describe('loadBoundServices (CLI)', () => {
  beforeEach(() => ssmMock.reset());

  test('follows the chunks <name>, <name>-2, ... until one does not exist', async () => {
    const first = Array.from({ length: 30 }, (_, i) => arn('c1', `s${i}`));
    const second = [arn('c2', 'x')];
    ssmMock.on(GetParameterCommand).callsFake((input: { Name: string }) => {
      if (input.Name === '/p/bound-services') return { Parameter: { Value: JSON.stringify(first) } };
      if (input.Name === '/p/bound-services-2') return { Parameter: { Value: JSON.stringify(second) } };
      throw notFound();
    });
    const result = await loadBoundServices(createClients({ region: 'us-east-1' }), '/p/bound-services');
    expect(result).toEqual({ parameter: '/p/bound-services', exists: true, arns: [...first, ...second], codeDeploy: new Map() });
    expect(ssmMock.commandCalls(GetParameterCommand).map((c) => c.args[0].input.Name)).toEqual([
      '/p/bound-services',
      '/p/bound-services-2',
      '/p/bound-services-3',
    ]);
  });

  test('no first parameter: a new stack with no bound service yet', async () => {
    ssmMock.on(GetParameterCommand).rejects(notFound());
    const result = await loadBoundServices(createClients({ region: 'us-east-1' }), '/p/bound-services');
    expect(result).toEqual({ parameter: '/p/bound-services', exists: false, arns: [], codeDeploy: new Map() });
  });
});

test('a service bound with its CodeDeploy deployment group: listed by ARN, its group by ARN', async () => {
  ssmMock.reset();
  const web = arn('c1', 'web');
  ssmMock.on(GetParameterCommand).callsFake((input: { Name: string }) => {
    if (input.Name === '/p/bound-services')
      return { Parameter: { Value: JSON.stringify([{ service: web, codeDeploy: { application: 'shop', deploymentGroup: 'bg' } }]) } };
    throw notFound();
  });
  const result = await loadBoundServices(createClients({ region: 'us-east-1' }), '/p/bound-services');
  expect(result.arns).toEqual([web]);
  expect([...result.codeDeploy!]).toEqual([[web, { application: 'shop', deploymentGroup: 'bg' }]]);
});
