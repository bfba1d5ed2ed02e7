import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { invokeHandler } from './lambda-runner';
import { MotoServer, startMoto } from './moto-server';
import { describeStages, rotateSecret, RotationEvent, RotationFailedError, RotationStep } from './rotation-service';

/** Minimal rotation function in the shape of the AWS template (idempotent createSecret, finish moves AWSCURRENT). */
function fakeSteps(sm: SecretsManagerClient, secretId: string) {
  let minted = 0;
  return {
    putCalls: () => minted,
    async step(step: RotationStep, token: string): Promise<void> {
      if (step === 'createSecret') {
        try {
          await sm.send(new GetSecretValueCommand({ SecretId: secretId, VersionId: token, VersionStage: 'AWSPENDING' }));
          return; // already created by an earlier attempt
        } catch (e) {
          if ((e as Error).name !== 'ResourceNotFoundException') throw e;
        }
        minted++;
        const url = `postgres://admin:token-${minted}@db:5432/postgres`;
        await sm.send(
          new PutSecretValueCommand({
            SecretId: secretId,
            ClientRequestToken: token,
            SecretString: JSON.stringify({ url }),
            VersionStages: ['AWSPENDING'],
          }),
        );
      } else if (step === 'finishSecret') {
        const stages = await describeStages(sm, secretId);
        const current = Object.keys(stages).find((v) => stages[v].includes('AWSCURRENT'))!;
        if (current === token) return;
        await sm.send(
          new UpdateSecretVersionStageCommand({
            SecretId: secretId,
            VersionStage: 'AWSCURRENT',
            MoveToVersionId: token,
            RemoveFromVersionId: current,
          }),
        );
      }
    },
  };
}

describe('rotation service (against moto)', () => {
  let moto: MotoServer;
  let sm: SecretsManagerClient;
  let n = 0;

  async function newSecret(): Promise<{ id: string; initialVersion: string }> {
    const c = await sm.send(
      new CreateSecretCommand({ Name: `url-secret-${++n}`, SecretString: JSON.stringify({ url: 'postgres://initial' }) }),
    );
    return { id: c.ARN!, initialVersion: c.VersionId! };
  }
  const current = async (id: string) =>
    JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: id, VersionStage: 'AWSCURRENT' }))).SecretString!).url;

  beforeAll(async () => {
    moto = await startMoto();
    sm = new SecretsManagerClient(moto.clientConfig());
  });
  afterAll(async () => {
    sm?.destroy();
    await moto?.stop();
  });

  test('a full rotation: new version AWSCURRENT, old AWSPREVIOUS, no AWSPENDING', async () => {
    const { id, initialVersion } = await newSecret();
    const fake = fakeSteps(sm, id);
    const seenBeforeCreate: Array<Record<string, string[]>> = [];
    const events: RotationEvent[] = [];
    const res = await rotateSecret({
      sm,
      secretId: id,
      onProgress: (e) => events.push(e),
      invokeStep: async (step, token) => {
        if (step === 'createSecret') seenBeforeCreate.push(await describeStages(sm, id));
        await fake.step(step, token);
      },
    });

    // What the rotation function sees first is AWS's staging: token AWSPENDING (no value), current untouched.
    expect(seenBeforeCreate[0]).toEqual({ [initialVersion]: ['AWSCURRENT'], [res.versionId]: ['AWSPENDING'] });
    expect(res).toEqual({ versionId: expect.any(String), attempts: 1, failures: [] });
    expect(await describeStages(sm, id)).toEqual({ [res.versionId]: ['AWSCURRENT'], [initialVersion]: ['AWSPREVIOUS'] });
    expect(await current(id)).toBe('postgres://admin:token-1@db:5432/postgres');
    expect((await sm.send(new DescribeSecretCommand({ SecretId: id }))).RotationEnabled).toBe(true);
    expect(events.map((e) => e.type + ('step' in e ? `:${e.step}` : ''))).toEqual([
      'rotation-started',
      'step-started:createSecret',
      'step-succeeded:createSecret',
      'step-started:setSecret',
      'step-succeeded:setSecret',
      'step-started:testSecret',
      'step-succeeded:testSecret',
      'step-started:finishSecret',
      'step-succeeded:finishSecret',
      'rotation-succeeded',
    ]);
  });

  test('a step that fails once is retried with the same token and the rotation completes', async () => {
    const { id, initialVersion } = await newSecret();
    const fake = fakeSteps(sm, id);
    const tokens = new Set<string>();
    let failed = false;
    const res = await rotateSecret({
      sm,
      secretId: id,
      invokeStep: async (step, token) => {
        tokens.add(token);
        if (step === 'testSecret' && !failed) {
          failed = true;
          throw new Error('database not reachable yet');
        }
        await fake.step(step, token);
      },
    });
    expect(res.attempts).toBe(2);
    expect(res.failures).toEqual([{ attempt: 1, step: 'testSecret', message: 'Error: database not reachable yet' }]);
    expect([...tokens]).toEqual([res.versionId]);
    expect(fake.putCalls()).toBe(1); // the retry's createSecret found the value and did not mint again
    expect(await describeStages(sm, id)).toEqual({ [res.versionId]: ['AWSCURRENT'], [initialVersion]: ['AWSPREVIOUS'] });
  });

  test('a step that always fails throws after maxAttempts, leaves AWSPENDING, and blocks the next rotation', async () => {
    const { id, initialVersion } = await newSecret();
    const fake = fakeSteps(sm, id);
    const run = rotateSecret({
      sm,
      secretId: id,
      maxAttempts: 4,
      invokeStep: async (step, token) => {
        if (step === 'setSecret') throw new TypeError(`boom ${token.length}`);
        await fake.step(step, token);
      },
    });
    const err = (await run.catch((e) => e)) as RotationFailedError;
    expect(err).toBeInstanceOf(RotationFailedError);
    expect(err.failures).toEqual([1, 2, 3, 4].map((attempt) => ({ attempt, step: 'setSecret', message: 'TypeError: boom 36' })));
    expect(err.message).toContain('failed after 4 attempt(s)');
    expect(err.message).toContain('attempt 4, setSecret: TypeError: boom 36');
    // As on AWS: the current value is untouched and the pending version keeps AWSPENDING.
    expect(await describeStages(sm, id)).toEqual({ [initialVersion]: ['AWSCURRENT'], [err.token]: ['AWSPENDING'] });
    expect(await current(id)).toBe('postgres://initial');
    await expect(rotateSecret({ sm, secretId: id, invokeStep: fake.step })).rejects.toMatchObject({
      name: 'InvalidRequestException',
      message: expect.stringContaining("A previous rotation isn't complete"),
    });
  });

  test('finishSecret that does not promote the token counts as a failure', async () => {
    const { id } = await newSecret();
    const fake = fakeSteps(sm, id);
    const run = rotateSecret({
      sm,
      secretId: id,
      maxAttempts: 1,
      invokeStep: async (step, token) => (step === 'finishSecret' ? undefined : fake.step(step, token)),
    });
    await expect(run).rejects.toThrow(/finishSecret returned but version .* is not AWSCURRENT/);
  });

  test('two rotations in a row', async () => {
    const { id, initialVersion } = await newSecret();
    const fake = fakeSteps(sm, id);
    const first = await rotateSecret({ sm, secretId: id, invokeStep: fake.step });
    const second = await rotateSecret({ sm, secretId: id, invokeStep: fake.step });
    expect(second.versionId).not.toBe(first.versionId);
    // The initial version has no label left, so (like AWS) it is not listed.
    expect(await describeStages(sm, id)).toEqual({ [second.versionId]: ['AWSCURRENT'], [first.versionId]: ['AWSPREVIOUS'] });
    expect(Object.keys(await describeStages(sm, id))).not.toContain(initialVersion);
    expect(await current(id)).toBe('postgres://admin:token-2@db:5432/postgres');
  });

  test('end to end: steps run as a Lambda handler in a child process (lambda-runner) against moto', async () => {
    const { id, initialVersion } = await newSecret();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotation-handler-'));
    const bundle = path.join(dir, 'index.js');
    // A tiny template-style rotation handler; the SDK resolves its endpoint from AWS_ENDPOINT_URL.
    fs.writeFileSync(
      bundle,
      `const sm = require(${JSON.stringify(require.resolve('@aws-sdk/client-secrets-manager'))});
const client = new sm.SecretsManagerClient({});
exports.handler = async ({ Step, SecretId, ClientRequestToken: token }) => {
  console.log('step', Step);
  const d = await client.send(new sm.DescribeSecretCommand({ SecretId }));
  if (!d.RotationEnabled) throw new Error('rotation not enabled');
  const stages = d.VersionIdsToStages[token];
  if (!stages) throw new Error('token is not a version');
  if (stages.includes('AWSCURRENT')) return;
  if (!stages.includes('AWSPENDING')) throw new Error('token is not AWSPENDING');
  if (Step === 'createSecret') {
    try { await client.send(new sm.GetSecretValueCommand({ SecretId, VersionId: token, VersionStage: 'AWSPENDING' })); return; }
    catch (e) { if (e.name !== 'ResourceNotFoundException') throw e; }
    await client.send(new sm.PutSecretValueCommand({ SecretId, ClientRequestToken: token, SecretString: JSON.stringify({ url: 'postgres://from-lambda' }), VersionStages: ['AWSPENDING'] }));
  } else if (Step === 'finishSecret') {
    const current = Object.keys(d.VersionIdsToStages).find((v) => d.VersionIdsToStages[v].includes('AWSCURRENT'));
    await client.send(new sm.UpdateSecretVersionStageCommand({ SecretId, VersionStage: 'AWSCURRENT', MoveToVersionId: token, RemoveFromVersionId: current }));
  }
};
`,
    );
    const env = {
      AWS_REGION: moto.region,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
    };
    const logs: string[] = [];
    try {
      const res = await rotateSecret({
        sm,
        secretId: id,
        invokeStep: async (Step, token) => {
          const out = await invokeHandler({ bundle, env, event: { Step, SecretId: id, ClientRequestToken: token }, timeoutMs: 20_000 });
          logs.push(out.logs);
          if (!out.ok) throw Object.assign(new Error(out.error.message), { name: out.error.name });
        },
      });
      expect(res.attempts).toBe(1);
      expect(await describeStages(sm, id)).toEqual({ [res.versionId]: ['AWSCURRENT'], [initialVersion]: ['AWSPREVIOUS'] });
      expect(await current(id)).toBe('postgres://from-lambda');
      expect(logs.join('')).toMatch(/step createSecret[\s\S]*step finishSecret/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
