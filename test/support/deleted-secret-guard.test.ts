import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { MARKED_FOR_DELETION, refuseWritesToDeletedSecrets } from './deleted-secret-guard';
import { FaultProxy, startFaultProxy } from './fault-proxy';
import { MotoServer, startMoto } from './moto-server';

/** The model of AWS the local stack installs, and the moto gap it closes. */
describe('writes to a secret scheduled for deletion, as AWS answers them', () => {
  let moto: MotoServer;
  let proxy: FaultProxy;
  let direct: SecretsManagerClient;
  let viaProxy: SecretsManagerClient;

  beforeAll(async () => {
    moto = await startMoto();
    proxy = await startFaultProxy(moto.endpoint);
    direct = new SecretsManagerClient(moto.clientConfig());
    proxy.guard = refuseWritesToDeletedSecrets(direct);
    viaProxy = new SecretsManagerClient({ ...moto.clientConfig(), endpoint: proxy.endpoint });
  }, 60_000);
  afterAll(async () => {
    direct?.destroy();
    viaProxy?.destroy();
    await proxy?.stop();
    await moto?.stop();
  });

  /** A secret with a current and a pending version, then scheduled for deletion with a recovery window. */
  async function deletedSecret(name: string): Promise<{ arn: string; current: string; pending: string }> {
    const created = await direct.send(new CreateSecretCommand({ Name: name, SecretString: '{"v":1}' }));
    const pending = await direct.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: '{"v":2}', VersionStages: ['AWSPENDING'] }),
    );
    await direct.send(new DeleteSecretCommand({ SecretId: created.ARN, RecoveryWindowInDays: 7 }));
    return { arn: created.ARN!, current: created.VersionId!, pending: pending.VersionId! };
  }

  const promote = (secretId: string, to: string, from: string) =>
    new UpdateSecretVersionStageCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT', MoveToVersionId: to, RemoveFromVersionId: from });

  test('moto alone lets UpdateSecretVersionStage promote a version of a deleted secret (why the model exists)', async () => {
    const s = await deletedSecret('moto-gap');
    await direct.send(promote(s.arn, s.pending, s.current));
    const stages = (await direct.send(new DescribeSecretCommand({ SecretId: s.arn }))).VersionIdsToStages!;
    expect(stages[s.pending]).toContain('AWSCURRENT');
  });

  test.each([
    ['by ARN', true],
    ['by name', false],
  ])('through the proxy, UpdateSecretVersionStage and PutSecretValue are refused %s and change nothing', async (how, byArn) => {
    const name = `guarded-${how.replace(' ', '-')}`;
    const s = await deletedSecret(name);
    const id = byArn ? s.arn : name;

    await expect(viaProxy.send(promote(id, s.pending, s.current))).rejects.toMatchObject({
      name: 'InvalidRequestException',
      message: MARKED_FOR_DELETION,
    });
    await expect(viaProxy.send(new PutSecretValueCommand({ SecretId: id, SecretString: '{"v":3}' }))).rejects.toMatchObject({
      name: 'InvalidRequestException',
      message: MARKED_FOR_DELETION,
    });

    const described = await viaProxy.send(new DescribeSecretCommand({ SecretId: id }));
    expect(described.DeletedDate).toBeInstanceOf(Date);
    expect(described.VersionIdsToStages![s.current]).toContain('AWSCURRENT');
    expect(described.VersionIdsToStages![s.pending]).toEqual(['AWSPENDING']);
  });

  test('after RestoreSecret the same writes go through again', async () => {
    const s = await deletedSecret('restored');
    await direct.send(new RestoreSecretCommand({ SecretId: s.arn }));

    await viaProxy.send(promote(s.arn, s.pending, s.current));
    await viaProxy.send(new PutSecretValueCommand({ SecretId: s.arn, SecretString: '{"v":3}' }));
    const stages = (await direct.send(new DescribeSecretCommand({ SecretId: s.arn }))).VersionIdsToStages!;
    expect(stages[s.pending]).toContain('AWSCURRENT');
  });

  test('a secret that is not deleted, or does not exist, is left to moto', async () => {
    await direct.send(new CreateSecretCommand({ Name: 'alive', SecretString: '{}' }));
    await viaProxy.send(new PutSecretValueCommand({ SecretId: 'alive', SecretString: '{"v":2}' }));
    await expect(viaProxy.send(new PutSecretValueCommand({ SecretId: 'missing', SecretString: '{}' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });
});
