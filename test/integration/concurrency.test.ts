/**
 * Readers during rotations: while rotations run back to back, 20 concurrent readers do what a
 * starting ECS task does (GetSecretValue of AWSCURRENT, then connect with the URL and run SELECT 1).
 * Every read must yield a URL that authenticates, whichever version it caught: the one about to be
 * replaced, the new one, or one read just before a promotion and used just after it.
 */
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { DsqlUrlSecretValue } from '../../lib/contract';
import { LocalStack } from '../support/local-stack';
import { pgSelectOne, psql } from './clients';
import { blockingPending, captureOutput, findLeaks, fingerprint, sleep, stagesOf, startStack } from './harness';

const READERS = 20;
const PSQL_READERS = 2; // of the 20: libpq clients next to node-postgres ones
const ROTATIONS = 3;

interface ReaderStats {
  reads: number;
  connections: number;
  failures: string[];
  /** issuedAt of every version a reader got. */
  tokensSeen: Set<string>;
}

describe('concurrent readers of AWSCURRENT during rotations', () => {
  let stack: LocalStack;
  let output: ReturnType<typeof captureOutput>;
  const errorTexts: string[] = [];

  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({ services: 3 });
    await stack.rotate(); // replaces the construct's placeholder: from here AWSCURRENT always holds a URL
  }, 60_000);

  afterAll(async () => {
    output?.restore();
    await stack?.stop();
  });

  test(`${READERS} readers loop through ${ROTATIONS} rotations: every read connects`, async () => {
    const stats: ReaderStats = { reads: 0, connections: 0, failures: [], tokensSeen: new Set() };
    let running = true;

    const reader = async (i: number) => {
      const useLibpq = i < PSQL_READERS;
      while (running) {
        let value: DsqlUrlSecretValue;
        try {
          const out = await stack.sm.send(new GetSecretValueCommand({ SecretId: stack.secretArn, VersionStage: 'AWSCURRENT' }));
          value = JSON.parse(out.SecretString ?? '{}') as DsqlUrlSecretValue;
          stats.reads++;
        } catch (err) {
          stats.failures.push(`reader ${i}: GetSecretValue: ${(err as Error).message}`);
          continue;
        }
        try {
          if (!value.url) throw new Error('AWSCURRENT holds no URL');
          stats.tokensSeen.add(value.issuedAt); // one per version (two tokens signed in one second can be identical)
          if (useLibpq) {
            if ((await psql(value.url, 'select 1')) !== '1') throw new Error('psql did not print 1');
          } else if ((await pgSelectOne(value.url, stack.endpoint.caFile)) !== 1) {
            throw new Error('SELECT 1 did not return 1');
          }
          stats.connections++;
        } catch (err) {
          stats.failures.push(`reader ${i} (token ${fingerprint(value.password ?? '')}): ${(err as Error).message}`);
        }
      }
    };

    const acceptedBefore = stack.endpoint.stats.accepted;
    const readers = Array.from({ length: READERS }, (_, i) => reader(i));
    const versions: string[] = [];
    try {
      await sleep(300); // readers in full swing before the first promotion
      for (let r = 0; r < ROTATIONS; r++) {
        const result = await stack.rotate();
        expect(result.attempts).toBe(1);
        versions.push(result.versionId);
      }
      await sleep(300); // and after the last one
    } finally {
      running = false;
      await Promise.all(readers);
    }
    errorTexts.push(...stats.failures);

    expect(stats.failures).toEqual([]);
    expect(stats.reads).toBeGreaterThanOrEqual(200);
    expect(stats.connections).toBe(stats.reads);
    // The version current when readers started plus one per rotation: readers straddled every promotion.
    expect(stats.tokensSeen.size).toBe(ROTATIONS + 1);
    expect(stack.endpoint.stats.rejections).toEqual([]);
    expect(stack.endpoint.stats.accepted - acceptedBefore).toBe(stats.connections + ROTATIONS); // + one testSecret each
    const stages = await stagesOf(stack);
    expect(stages[versions[ROTATIONS - 1]]).toEqual(['AWSCURRENT']);
    expect(blockingPending(stages)).toEqual([]);
    // Shown in the test output so the figures can be quoted.
    process.stdout.write(
      `concurrency: ${READERS} readers, ${stats.reads} reads, ${stats.connections} connections, ` +
        `${stats.tokensSeen.size} distinct versions, ${ROTATIONS} rotations\n`,
    );
  }, 120_000);

  test("no secret in the handler logs, reader errors or this process's output", async () => {
    const { leaks } = await findLeaks({
      stack,
      texts: { 'test process output': output.text(), 'reader errors': errorTexts.join('\n') },
      secretAccessKeys: [stack.signer.secretAccessKey],
    });
    expect(leaks).toEqual([]);
  });
});
