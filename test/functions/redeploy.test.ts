import 'aws-sdk-client-mock-jest';
import {
  DescribeServicesCommand,
  DescribeServicesCommandInput,
  ECSClient,
  ServiceNotActiveException,
  ServiceNotFoundException,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { Pacer } from '../../functions/pacer';
import { clusterOf } from '../../core/ecs-services';
import { homeOf, redeployServices } from '../../functions/redeploy';
import { awsError, recordingRetry, serviceArn, throttling } from './fixtures';
import { activeService, FakeEcs } from './fixtures-ecs';

const ecsMock = mockClient(ECSClient);
const ecs = new ECSClient({ region: 'us-east-1' });

const PROMOTED_AT = new Date('2030-06-01T12:00:00.000Z');
const options = (overrides = {}) => ({ promotedAt: PROMOTED_AT, concurrency: 5, retry: recordingRetry(), ...overrides });

const A = serviceArn('main', 'a');
const B = serviceArn('main', 'b');
const C = serviceArn('other', 'c');

beforeEach(() => {
  ecsMock.reset();
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());
afterAll(() => ecsMock.restore());

/** The JSON log records written while the test runs. */
function captureLogs(): () => Array<Record<string, unknown>> {
  const lines: string[] = [];
  jest.spyOn(console, 'log').mockImplementation((line: string) => {
    lines.push(line);
  });
  return () => lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

const updatedServices = () => ecsMock.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input.service);

describe('redeployServices', () => {
  test('forces a new deployment of every service, with the cluster parsed from its ARN', async () => {
    new FakeEcs().add(A, B, C).install(ecsMock);

    const report = await redeployServices(ecs, [A, B, C], options());

    expect(report.redeployed.sort()).toEqual([A, B, C].sort());
    expect(report).toMatchObject({ alreadyCurrent: [], gone: [], notFound: [], failed: [], throttleRetries: 0 });
    expect(ecsMock).toHaveReceivedCommandTimes(UpdateServiceCommand, 3);
    expect(ecsMock).toHaveReceivedCommandWith(UpdateServiceCommand, { cluster: 'main', service: A, forceNewDeployment: true });
    expect(ecsMock).toHaveReceivedCommandWith(UpdateServiceCommand, { cluster: 'main', service: B, forceNewDeployment: true });
    expect(ecsMock).toHaveReceivedCommandWith(UpdateServiceCommand, { cluster: 'other', service: C, forceNewDeployment: true });
  });

  test('a stagger spaces the starts of redeployments, also across concurrent lanes', async () => {
    const arns = [A, B, C, serviceArn('main', 'd')];
    new FakeEcs().add(...arns).install(ecsMock);
    const retry = recordingRetry();

    // The fake sleep does not advance the clock, so each reserved slot shows as a longer wait.
    const report = await redeployServices(ecs, arns, { ...options(), concurrency: 2, staggerMs: 250, retry, now: () => 1_000 });

    expect(report.redeployed).toHaveLength(4);
    expect(retry.sleeps).toEqual([250, 500, 750]);
  });

  test('no stagger: no waiting', async () => {
    new FakeEcs().add(A, B, C).install(ecsMock);
    const retry = recordingRetry();
    await redeployServices(ecs, [A, B, C], { ...options(), retry });
    expect(retry.sleeps).toEqual([]);
  });

  test('no services: no ECS call at all', async () => {
    const report = await redeployServices(ecs, [], options());

    expect(report).toEqual({ redeployed: [], alreadyCurrent: [], gone: [], notFound: [], failed: [], throttleRetries: 0 });
    expect(ecsMock).not.toHaveReceivedAnyCommand();
  });

  test('DescribeServices is called per cluster in batches of at most 10 (23 services over 2 clusters → 3 + 1 calls)', async () => {
    // GIVEN 17 services in "big" and 6 in "small"
    const big = Array.from({ length: 17 }, (_, i) => serviceArn('big', `s${i}`));
    const small = Array.from({ length: 6 }, (_, i) => serviceArn('small', `s${i}`));
    const all = [...big.slice(0, 9), ...small, ...big.slice(9)]; // interleaved on purpose
    new FakeEcs().add(...all).install(ecsMock);

    // WHEN
    const report = await redeployServices(ecs, all, options());

    // THEN
    const batches = ecsMock.commandCalls(DescribeServicesCommand).map((c) => c.args[0].input as DescribeServicesCommandInput);
    expect(batches.map((b) => [b.cluster, b.services!.length])).toEqual([
      ['big', 10],
      ['big', 7],
      ['small', 6],
    ]);
    for (const b of batches) expect(b.services!.every((arn) => clusterOf(arn) === b.cluster)).toBe(true);
    expect(batches.flatMap((b) => b.services).sort()).toEqual([...all].sort());
    expect(report.redeployed).toHaveLength(23);
  });

  test('services with a deployment created at or after promotion are skipped as already current', async () => {
    // GIVEN A deployed before promotion, B exactly at promotion, C after (next to an older one)
    ecsMock.on(DescribeServicesCommand).callsFake(({ services }: DescribeServicesCommandInput) => ({
      services: services!.map(
        (arn) =>
          ({
            [A]: activeService(A, [new Date(PROMOTED_AT.getTime() - 1)]),
            [B]: activeService(B, [PROMOTED_AT]),
            [C]: activeService(C, [new Date('2020-01-01'), new Date(PROMOTED_AT.getTime() + 60_000)]),
          })[arn],
      ),
    }));
    ecsMock.on(UpdateServiceCommand).resolves({});

    const report = await redeployServices(ecs, [A, B, C], options());

    expect(report.redeployed).toEqual([A]);
    expect(report.alreadyCurrent.sort()).toEqual([B, C].sort());
    expect(updatedServices()).toEqual([A]);
  });

  describe('services that no longer exist are skipped, not failed; "not found" is counted apart from "inactive"', () => {
    test('listed under failures (MISSING) or absent from the DescribeServices answer: not found, logged by name', async () => {
      ecsMock.on(DescribeServicesCommand).resolves({ services: [activeService(A)], failures: [{ arn: B, reason: 'MISSING' }] });
      ecsMock.on(UpdateServiceCommand).resolves({});
      const lines = captureLogs();

      const report = await redeployServices(ecs, [A, B, serviceArn('main', 'absent')], options());

      expect(report.redeployed).toEqual([A]);
      expect(report.notFound.sort()).toEqual([B, serviceArn('main', 'absent')].sort());
      expect(report.gone).toEqual([]);
      expect(report.failed).toEqual([]);
      expect(updatedServices()).toEqual([A]);
      const warnings = lines().filter((r) => String(r.message).startsWith('service not found'));
      expect(warnings).toEqual([
        expect.objectContaining({ level: 'WARN', service: B, cluster: 'main', name: 'b', reason: 'MISSING' }),
        expect.objectContaining({ service: serviceArn('main', 'absent'), name: 'absent', reason: 'absent from the answer' }),
      ]);
    });

    test.each(['INACTIVE', 'DRAINING'])('status %s', async (status) => {
      ecsMock.on(DescribeServicesCommand).resolves({ services: [activeService(A), { ...activeService(B), status }] });
      ecsMock.on(UpdateServiceCommand).resolves({});

      const report = await redeployServices(ecs, [A, B], options());

      expect(report.gone).toEqual([B]);
      expect(updatedServices()).toEqual([A]);
    });

    test.each([
      ['ServiceNotFoundException', 'notFound', () => new ServiceNotFoundException({ message: 'Service not found.', $metadata: {} })],
      ['ServiceNotActiveException', 'gone', () => new ServiceNotActiveException({ message: 'Service was not ACTIVE.', $metadata: {} })],
    ])('UpdateService throws %s (deleted between describe and update): %s', async (_name, list, error) => {
      const fake = new FakeEcs().add(A, B);
      fake.failUpdate = (arn) => (arn === B ? error() : undefined);
      fake.install(ecsMock);

      const report = await redeployServices(ecs, [A, B], options());

      expect(report).toMatchObject({ redeployed: [A], failed: [] });
      expect(report.gone).toEqual(list === 'gone' ? [B] : []);
      expect(report.notFound).toEqual(list === 'notFound' ? [B] : []);
    });

    test('the whole cluster is not found (ClusterNotFoundException): its services are not found', async () => {
      ecsMock.on(DescribeServicesCommand, { cluster: 'other' }).rejects(awsError('ClusterNotFoundException', 'Cluster not found.'));
      ecsMock.on(DescribeServicesCommand, { cluster: 'main' }).resolves({ services: [activeService(A)] });
      ecsMock.on(UpdateServiceCommand).resolves({});

      const report = await redeployServices(ecs, [A, C], options());

      expect(report).toMatchObject({ redeployed: [A], gone: [], notFound: [C], failed: [] });
    });
  });

  describe('a service in another region or account', () => {
    const HOME = { region: 'us-east-1', account: '123456789012' };
    const OTHER_REGION = 'arn:aws:ecs:eu-west-1:123456789012:service/main/far';
    const OTHER_ACCOUNT = 'arn:aws:ecs:us-east-1:210987654321:service/main/theirs';

    test('fails, named with its region and account, without an ECS call; the others are redeployed', async () => {
      new FakeEcs().add(A, C).install(ecsMock);

      const report = await redeployServices(ecs, [OTHER_REGION, A, OTHER_ACCOUNT, C], options({ home: HOME }));

      expect(report.redeployed.sort()).toEqual([A, C].sort());
      expect(report.notFound).toEqual([]);
      expect(report.failed).toEqual([
        {
          serviceArn: OTHER_REGION,
          message:
            'service is in region eu-west-1, account 123456789012, but this function redeploys services in region us-east-1, ' +
            'account 123456789012 only; bind it to a DsqlUrlSecret in its own region and account',
        },
        { serviceArn: OTHER_ACCOUNT, message: expect.stringContaining('region us-east-1, account 210987654321, but') },
      ]);
      const described = ecsMock.commandCalls(DescribeServicesCommand).flatMap((c) => c.args[0].input.services ?? []);
      expect(described.sort()).toEqual([A, C].sort());
      expect(updatedServices().sort()).toEqual([A, C].sort());
    });

    test('without a home (unknown), no check: ECS answers for it', async () => {
      new FakeEcs().add(A).install(ecsMock);

      const report = await redeployServices(ecs, [A, OTHER_REGION], options());

      expect(report).toMatchObject({ redeployed: [A], notFound: [OTHER_REGION], failed: [] });
    });

    test('homeOf reads the region and account of the secret ARN', () => {
      expect(homeOf('arn:aws:secretsmanager:eu-central-1:111122223333:secret:app/db-AbCdEf')).toEqual({
        region: 'eu-central-1',
        account: '111122223333',
      });
      expect(homeOf('app/db')).toBeUndefined();
    });
  });

  test('one service failing does not stop the others; the failure carries the error name and message', async () => {
    const D = serviceArn('other', 'd');
    const fake = new FakeEcs().add(A, B, C, D);
    fake.failUpdate = (arn) => (arn === B ? awsError('AccessDeniedException', 'not authorized to perform ecs:UpdateService') : undefined);
    fake.install(ecsMock);

    const report = await redeployServices(ecs, [A, B, C, D], options({ concurrency: 1 }));

    expect(report.redeployed.sort()).toEqual([A, C, D].sort());
    expect(report.failed).toEqual([{ serviceArn: B, message: 'AccessDeniedException: not authorized to perform ecs:UpdateService' }]);
    expect(ecsMock).toHaveReceivedCommandTimes(UpdateServiceCommand, 4);
  });

  test('a malformed ARN fails on its own without an ECS call for it', async () => {
    new FakeEcs().add(A).install(ecsMock);

    const report = await redeployServices(ecs, [A, 'arn:aws:ecs:us-east-1:123456789012:service/short'], options());

    expect(report.redeployed).toEqual([A]);
    expect(report.failed).toEqual([expect.objectContaining({ serviceArn: 'arn:aws:ecs:us-east-1:123456789012:service/short' })]);
    expect(updatedServices()).toEqual([A]);
  });

  test('a DescribeServices call that fails for good fails its whole batch, other batches go on', async () => {
    ecsMock.on(DescribeServicesCommand, { cluster: 'main' }).rejects(awsError('AccessDeniedException', 'no ecs:DescribeServices'));
    ecsMock.on(DescribeServicesCommand, { cluster: 'other' }).resolves({ services: [activeService(C)] });
    ecsMock.on(UpdateServiceCommand).resolves({});

    const report = await redeployServices(ecs, [A, B, C], options());

    expect(report.redeployed).toEqual([C]);
    expect(report.failed.map((f) => f.serviceArn).sort()).toEqual([A, B].sort());
  });

  test('throttled calls are retried with backoff and succeed; retries are counted', async () => {
    // GIVEN DescribeServices throttled once, A's UpdateService twice, B's never
    const fake = new FakeEcs().add(A, B);
    fake.install(ecsMock);
    ecsMock
      .on(DescribeServicesCommand)
      .rejectsOnce(throttling())
      .callsFake((input: DescribeServicesCommandInput) => ({
        services: input.services!.map((arn) => fake.services.get(arn)),
      }));
    let aCalls = 0;
    fake.failUpdate = (arn) => (arn === A && ++aCalls <= 2 ? throttling() : undefined);
    const retry = recordingRetry({ maxAttempts: 5, baseDelayMs: 100, random: () => 0.5 });

    // WHEN
    const report = await redeployServices(ecs, [A, B], options({ retry, now: () => 1_000 }));

    // THEN
    expect(report).toMatchObject({ failed: [], throttleRetries: 3 });
    expect(report.redeployed.sort()).toEqual([A, B].sort());
    expect(ecsMock).toHaveReceivedCommandTimes(DescribeServicesCommand, 2);
    expect(ecsMock).toHaveReceivedCommandTimes(UpdateServiceCommand, 4);
    // DescribeServices backs off 50 ms on its own; UpdateService retries wait for the shared
    // pacer, whose gap doubles per throttle (50, then 100 ms), for every lane.
    expect(retry.sleeps[0]).toBe(50);
    expect(retry.sleeps.slice(1)).toEqual(expect.arrayContaining([50, 100]));
    expect(retry.sleeps.every((ms) => ms > 0 && ms <= Pacer.MAX_GAP_MS)).toBe(true);
  });

  test('throttling that never ends fails that service after maxAttempts; the others succeed', async () => {
    const fake = new FakeEcs().add(A, B);
    fake.failUpdate = (arn) => (arn === A ? throttling() : undefined);
    fake.install(ecsMock);
    const retry = recordingRetry({ maxAttempts: 4 });

    const report = await redeployServices(ecs, [A, B], options({ retry }));

    expect(report.redeployed).toEqual([B]);
    expect(report.failed).toEqual([{ serviceArn: A, message: 'ThrottlingException: Rate exceeded' }]);
    expect(report.throttleRetries).toBe(3);
    expect(updatedServices().filter((s) => s === A)).toHaveLength(4);
  });

  test('never more than `concurrency` UpdateService calls in flight', async () => {
    const arns = Array.from({ length: 12 }, (_, i) => serviceArn('main', `s${i}`));
    ecsMock
      .on(DescribeServicesCommand)
      .callsFake(({ services }: DescribeServicesCommandInput) => ({ services: services!.map((a) => activeService(a)) }));
    let inFlight = 0;
    let maxInFlight = 0;
    ecsMock.on(UpdateServiceCommand).callsFake(async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return {};
    });

    const report = await redeployServices(ecs, arns, options({ concurrency: 3 }));

    expect(report.redeployed).toHaveLength(12);
    expect(maxInFlight).toBe(3);
  });
});
