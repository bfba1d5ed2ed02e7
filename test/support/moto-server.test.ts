import { CreateSecretCommand, GetSecretValueCommand, ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ECSClient, ListClustersCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { createEcsFixture, deploymentsOf } from './ecs-fixture';
import { findMotoPython, MotoServer, startMoto } from './moto-server';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('moto server', () => {
  let moto: MotoServer;
  let sm: SecretsManagerClient;
  let ecs: ECSClient;

  beforeAll(async () => {
    const started = Date.now();
    moto = await startMoto();
    console.log(`moto started in ${Date.now() - started} ms (${findMotoPython()})`);
    sm = new SecretsManagerClient(moto.clientConfig());
    ecs = new ECSClient(moto.clientConfig());
  });
  afterAll(async () => {
    sm?.destroy();
    ecs?.destroy();
    await moto?.stop();
  });

  test('listens on 127.0.0.1 and gives a usable SDK config', () => {
    expect(moto.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(moto.clientConfig()).toEqual({
      endpoint: moto.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
  });

  test('Secrets Manager works', async () => {
    const created = await sm.send(new CreateSecretCommand({ Name: 'db', SecretString: '{"url":"postgres://x"}' }));
    expect(created.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:123456789012:secret:db-/);
    const got = await sm.send(new GetSecretValueCommand({ SecretId: 'db', VersionStage: 'AWSCURRENT' }));
    expect(JSON.parse(got.SecretString!)).toEqual({ url: 'postgres://x' });
  });

  test('ECS works, and forceNewDeployment rewrites the single deployment entry', async () => {
    const f = await createEcsFixture(ecs, {
      clusterName: 'c1',
      services: 12,
      secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf',
    });
    expect(f.serviceArns).toHaveLength(12);
    expect(f.serviceArns[0]).toBe('arn:aws:ecs:us-east-1:123456789012:service/c1/svc-0');
    const before = await deploymentsOf(ecs, f.serviceArns); // 12 services: two DescribeServices batches
    expect(before.size).toBe(12);
    expect(before.get(f.serviceArns[11])).toEqual([
      { id: expect.stringMatching(/^ecs-svc\//), createdAt: expect.any(Date), status: 'PRIMARY' },
    ]);

    await ecs.send(new UpdateServiceCommand({ cluster: 'c1', service: f.serviceArns[0], forceNewDeployment: true }));
    const after = await deploymentsOf(ecs, f.serviceArns);
    expect(after.get(f.serviceArns[0])).toHaveLength(1);
    expect(after.get(f.serviceArns[0])![0].id).not.toBe(before.get(f.serviceArns[0])![0].id);
    expect(after.get(f.serviceArns[1])).toEqual(before.get(f.serviceArns[1]));
  });

  test('servers are isolated from each other', async () => {
    const other = await startMoto();
    try {
      const otherSm = new SecretsManagerClient(other.clientConfig());
      await sm.send(new CreateSecretCommand({ Name: 'only-here', SecretString: 'x' }));
      const list = await otherSm.send(new ListSecretsCommand({}));
      expect(list.SecretList?.map((s) => s.Name)).not.toContain('only-here');
      otherSm.destroy();
    } finally {
      await other.stop();
    }
  });

  test('reset clears all state', async () => {
    await sm.send(new CreateSecretCommand({ Name: 'to-reset', SecretString: 'x' }));
    await moto.reset();
    expect((await sm.send(new ListSecretsCommand({}))).SecretList ?? []).toEqual([]);
    expect((await ecs.send(new ListClustersCommand({}))).clusterArns ?? []).toEqual([]);
  });

  test('stop kills the process', async () => {
    const extra = await startMoto();
    expect(isAlive(extra.pid)).toBe(true);
    await extra.stop();
    expect(isAlive(extra.pid)).toBe(false);
    await expect(fetch(`${extra.endpoint}/moto-api/config`)).rejects.toThrow();
    await extra.stop(); // idempotent
  });
});
