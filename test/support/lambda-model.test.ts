import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import {
  CreateFunctionCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { FaultProxy, startFaultProxy } from './fault-proxy';
import { attachLambdaModel, LambdaModel } from './lambda-model';
import { MotoServer, startMoto } from './moto-server';

/** The model of AWS the bound-functions integration test runs behind, and the moto gaps it closes. */
describe('Lambda configuration updates, as AWS answers them', () => {
  let moto: MotoServer;
  let proxy: FaultProxy;
  let model: LambdaModel;
  let direct: LambdaClient;
  let viaModel: LambdaClient;

  beforeAll(async () => {
    moto = await startMoto();
    proxy = await startFaultProxy(moto.endpoint);
    model = attachLambdaModel(proxy, moto);
    direct = new LambdaClient(moto.clientConfig());
    viaModel = new LambdaClient({ ...moto.clientConfig(), endpoint: proxy.endpoint });
    const role = await new IAMClient(moto.clientConfig()).send(new CreateRoleCommand({ RoleName: 'fn', AssumeRolePolicyDocument: '{}' }));
    await direct.send(
      new CreateFunctionCommand({
        FunctionName: 'fn',
        Runtime: 'nodejs22.x',
        Role: role.Role!.Arn!,
        Handler: 'index.handler',
        Code: { ZipFile: Buffer.from('zip') },
        Environment: { Variables: { A: '1' } },
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await proxy?.stop();
    await moto?.stop();
  });

  const read = (client: LambdaClient) => client.send(new GetFunctionConfigurationCommand({ FunctionName: 'fn' }));

  test('moto alone: no RevisionId, Successful at once, a stale RevisionId and 5 KB of variables accepted', async () => {
    const before = await read(direct);
    expect(before.RevisionId).toBeUndefined();
    await direct.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'fn',
        Environment: { Variables: { A: '2', BIG: 'x'.repeat(5000) } },
        RevisionId: 'stale',
      }),
    );
    expect((await read(direct)).LastUpdateStatus).toBe('Successful');
    await direct.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'fn', Environment: { Variables: { A: '1' } } }));
  });

  test('through the model: a revision per change, InProgress for a few reads, stale revisions and a write in progress refused', async () => {
    const first = await read(viaModel);
    expect(first.RevisionId).toEqual(expect.any(String));
    expect(first.LastUpdateStatus).toBe('Successful');

    const stale = viaModel.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: 'fn', Environment: { Variables: { A: '2' } }, RevisionId: 'stale' }),
    );
    await expect(stale).rejects.toMatchObject({ name: 'PreconditionFailedException' });

    const updated = await viaModel.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: 'fn', Environment: { Variables: { A: '2' } }, RevisionId: first.RevisionId }),
    );
    expect(updated.LastUpdateStatus).toBe('InProgress');
    expect(updated.RevisionId).not.toBe(first.RevisionId);
    const during = viaModel.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'fn', Environment: { Variables: { A: '3' } } }));
    await expect(during).rejects.toMatchObject({ name: 'ResourceConflictException' });
    expect((await read(viaModel)).LastUpdateStatus).toBe('InProgress');
    expect((await read(viaModel)).LastUpdateStatus).toBe('InProgress');
    const after = await read(viaModel);
    expect(after).toMatchObject({ LastUpdateStatus: 'Successful', RevisionId: updated.RevisionId, Environment: { Variables: { A: '2' } } });

    // Someone else's change makes the revision read before it stale.
    await model.changeOutOfBand('fn', { B: 'new' });
    const lost = viaModel.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: 'fn', Environment: { Variables: { A: '4' } }, RevisionId: after.RevisionId }),
    );
    await expect(lost).rejects.toMatchObject({ name: 'PreconditionFailedException' });
    expect((await read(viaModel)).Environment?.Variables).toEqual({ A: '2', B: 'new' });
  });

  test('through the model: variables over 4096 bytes of JSON are refused, exactly 4096 accepted', async () => {
    const overhead = JSON.stringify({ A: '' }).length;
    const refused = viaModel.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: 'fn', Environment: { Variables: { A: 'x'.repeat(4097 - overhead) } } }),
    );
    await expect(refused).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
    expect(model.sizeRefusals.get('fn')).toBe(1);
    await expect(
      viaModel.send(
        new UpdateFunctionConfigurationCommand({ FunctionName: 'fn', Environment: { Variables: { A: 'x'.repeat(4096 - overhead) } } }),
      ),
    ).resolves.toMatchObject({ LastUpdateStatus: 'InProgress' });
  });
});
