/**
 * The fleet check keeps its read of the bound-services parameters across warm
 * invocations (functions/fleet-bound-services.ts): a second run reads nothing
 * from SSM; a new fingerprint, parameter count or an hour passing reads again,
 * as does the run after one that found a bound service gone; a read that
 * stopped at a missing parameter is not kept.
 */
import 'aws-sdk-client-mock-jest';
import { DescribeServicesCommand, DescribeServicesCommandInput, ECSClient } from '@aws-sdk/client-ecs';
import { GetParametersCommand, GetParametersCommandInput, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { boundServicesParameterName, WatchdogFunctionConfig } from '../../lib/contract';
import { PromotionHistoryTag } from '../../lib/secret-tags';
import { BOUND_SERVICES_TTL_MS } from '../../functions/fleet-bound-services';
import { checkFleet, FleetSummary } from '../../functions/fleet-check';
import { DEFAULT_RETRY } from '../../functions/retry';
import { BOUND_SERVICES_PARAMETER, SECRET_ARN, serviceArn, TOKEN } from './fixtures';
import { watchdogConfig } from './fixtures-config';

const ssmMock = mockClient(SSMClient);
const ecsMock = mockClient(ECSClient);

const HOUR = 3600_000;
const NOW = new Date('2030-06-01T12:00:00.000Z');
const PROMOTED = new Date(NOW.getTime() - 2 * HOUR);
const EXPIRES = new Date(PROMOTED.getTime() + 8 * HOUR);
const NO_RETRY = { ...DEFAULT_RETRY, maxAttempts: 1 };

/** Parameter name -> JSON value, as the construct writes them; what GetParameters answers. */
let parameters: Map<string, string>;
/** ARNs ECS knows (ACTIVE, deployed after the promotion); others are MISSING. */
let known: Set<string>;
/** GetParameters calls still to refuse with ThrottlingException. */
let refusals: number;

function setServices(arns: readonly string[], perParameter = 7): number {
  parameters = new Map();
  const count = Math.max(1, Math.ceil(arns.length / perParameter));
  for (let i = 0; i < count; i++) {
    parameters.set(
      boundServicesParameterName(BOUND_SERVICES_PARAMETER, i),
      JSON.stringify(arns.slice(i * perParameter, (i + 1) * perParameter)),
    );
  }
  return count;
}

beforeEach(() => {
  ssmMock.reset();
  ecsMock.reset();
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
  refusals = 0;
  ssmMock.on(GetParametersCommand).callsFake((input: GetParametersCommandInput) => {
    if (refusals-- > 0) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    return {
      Parameters: (input.Names ?? [])
        .filter((n) => parameters.has(n))
        .map((Name) => ({ Name, Type: 'String', Value: parameters.get(Name) })),
      InvalidParameters: (input.Names ?? []).filter((n) => !parameters.has(n)),
    };
  });
  ecsMock.on(DescribeServicesCommand).callsFake((input: DescribeServicesCommandInput) => ({
    services: (input.services ?? [])
      .filter((arn) => known.has(arn))
      .map((arn) => ({
        serviceArn: arn,
        serviceName: arn.split('/').pop(),
        status: 'ACTIVE',
        runningCount: 1,
        deployments: [{ id: 'ecs-svc/1', createdAt: new Date(PROMOTED.getTime() + 60_000) }],
      })),
    failures: (input.services ?? []).filter((arn) => !known.has(arn)).map((arn) => ({ arn, reason: 'MISSING' })),
  }));
});
afterEach(() => jest.restoreAllMocks());
afterAll(() => [ssmMock, ecsMock].forEach((m) => m.restore()));

const check = (config: WatchdogFunctionConfig, now: Date): Promise<FleetSummary> =>
  checkFleet({
    ssm: new SSMClient({}),
    ecs: new ECSClient({}),
    config,
    secretArn: SECRET_ARN,
    metadata: {
      VersionIdsToStages: { [TOKEN]: ['AWSCURRENT'] },
      Tags: [
        {
          Key: PromotionHistoryTag.key,
          Value: PromotionHistoryTag.encode([{ versionId: TOKEN, promotedAt: PROMOTED, expiresAt: EXPIRES }]),
        },
      ],
    },
    current: { issuedAt: PROMOTED, expiresAt: EXPIRES },
    now,
    retry: NO_RETRY,
  });

/** The services each DescribeServices call named, flattened: what the survey checked. */
function described(): string[] {
  return ecsMock.commandCalls(DescribeServicesCommand).flatMap((c) => c.args[0].input.services ?? []);
}

const later = (ms: number) => new Date(NOW.getTime() + ms);
const arnsOf = (n: number, prefix = 'svc') => Array.from({ length: n }, (_, i) => serviceArn('main', `${prefix}-${i}`));

describe('the bound services kept across warm invocations', () => {
  test('the second run of the same configuration reads no parameter and checks the same services', async () => {
    // GIVEN 25 services in 4 parameters
    const arns = arnsOf(25);
    known = new Set(arns);
    const config = watchdogConfig({ boundServicesParameterCount: setServices(arns) });

    // WHEN the watchdog runs twice, an interval apart
    const first = await check(config, NOW);
    const describedFirst = described();
    ssmMock.resetHistory();
    ecsMock.resetHistory();
    const second = await check(config, later(300_000));

    // THEN the first read the parameters, the second did not, and both surveyed all 25
    expect(first).toMatchObject({ services: 25, ssmCalls: 1, servicesCached: false, failed: [] });
    expect(second).toMatchObject({ services: 25, ssmCalls: 0, servicesCached: true, failed: [] });
    expect(ssmMock).not.toHaveReceivedCommand(GetParametersCommand);
    expect(described().sort()).toEqual([...arns].sort());
    expect(describedFirst.sort()).toEqual([...arns].sort());
  });

  test('a new fingerprint (a deployment that binds another service) reads the parameters again', async () => {
    const arns = arnsOf(3);
    known = new Set([...arns, serviceArn('main', 'new')]);
    const before = watchdogConfig({ boundServicesParameterCount: setServices(arns) });
    await check(before, NOW);

    // WHEN the stack binds one more service: new parameter value, new fingerprint in the configuration
    setServices([...arns, serviceArn('main', 'new')]);
    const after = watchdogConfig();
    expect(after.boundServicesFingerprint).not.toBe(before.boundServicesFingerprint);
    ssmMock.resetHistory();
    ecsMock.resetHistory();
    const result = await check(after, later(60_000));

    expect(result).toMatchObject({ services: 4, ssmCalls: 1, servicesCached: false });
    expect(described()).toContain(serviceArn('main', 'new'));
  });

  test('a new parameter count under the same fingerprint reads again', async () => {
    const arns = arnsOf(8);
    known = new Set(arns);
    const config = watchdogConfig({ boundServicesParameterCount: setServices(arns) });
    await check(config, NOW);
    ssmMock.resetHistory();

    const result = await check({ ...config, boundServicesParameterCount: setServices(arns, 3) }, later(60_000));

    expect(result).toMatchObject({ services: 8, ssmCalls: 1, servicesCached: false });
  });

  test('a read is used for under an hour: a service replaced behind the same fingerprint is seen within it', async () => {
    const arns = arnsOf(2);
    known = new Set([...arns, serviceArn('main', 'replacement')]);
    const config = watchdogConfig({ boundServicesParameterCount: setServices(arns) });
    await check(config, NOW);
    // The parameter now names the replacement; the fingerprint (the template's Ref) is the same, and so is the
    // old ARN's answer here, so only the hour makes the check read again.
    setServices([arns[0], serviceArn('main', 'replacement')]);

    ssmMock.resetHistory();
    ecsMock.resetHistory();
    const warm = await check(config, later(BOUND_SERVICES_TTL_MS - 1000));
    expect(warm).toMatchObject({ ssmCalls: 0, servicesCached: true });
    expect(described()).not.toContain(serviceArn('main', 'replacement'));

    ecsMock.resetHistory();
    const expired = await check(config, later(BOUND_SERVICES_TTL_MS));
    expect(expired).toMatchObject({ ssmCalls: 1, servicesCached: false });
    expect(described()).toContain(serviceArn('main', 'replacement'));
  });

  test('a clock that went backwards reads again', async () => {
    const arns = arnsOf(2);
    known = new Set(arns);
    const config = watchdogConfig({ boundServicesParameterCount: setServices(arns) });
    await check(config, NOW);
    ssmMock.resetHistory();

    expect(await check(config, later(-1000))).toMatchObject({ ssmCalls: 1, servicesCached: false });
  });

  test('a run that finds a bound service gone makes the next one read again: it finds the replacement at once', async () => {
    // GIVEN svc-1 was replaced: ECS no longer knows its ARN, the parameter names the new one
    const arns = arnsOf(2);
    const replacement = serviceArn('main', 'svc-1-replaced');
    known = new Set(arns);
    const config = watchdogConfig({ boundServicesParameterCount: setServices(arns) });
    await check(config, NOW);
    known = new Set([arns[0], replacement]);
    setServices([arns[0], replacement]);

    // WHEN the next run (from the kept read) surveys the old ARN
    ssmMock.resetHistory();
    const stale = await check(config, later(300_000));
    // THEN it is gone, and the run after reads the parameters and checks the replacement
    expect(stale).toMatchObject({ ssmCalls: 0, servicesCached: true, failed: [] });
    ecsMock.resetHistory();
    const next = await check(config, later(600_000));
    expect(next).toMatchObject({ ssmCalls: 1, servicesCached: false, services: 2 });
    expect(described()).toEqual([arns[0], replacement]);
  });

  test('a read that stopped at a missing parameter (an update still adding it) is not kept', async () => {
    const arns = arnsOf(10);
    known = new Set(arns);
    const count = setServices(arns);
    parameters.delete(boundServicesParameterName(BOUND_SERVICES_PARAMETER, 1));
    const config = watchdogConfig({ boundServicesParameterCount: count });
    expect(await check(config, NOW)).toMatchObject({ services: 7, ssmCalls: 1, servicesCached: false });

    setServices(arns);
    ssmMock.resetHistory();
    expect(await check(config, later(300_000))).toMatchObject({ services: 10, ssmCalls: 1, servicesCached: false });
    expect(await check(config, later(600_000))).toMatchObject({ services: 10, ssmCalls: 0, servicesCached: true });
  });

  test('a failed read keeps nothing: the next run reads again', async () => {
    const arns = arnsOf(2);
    known = new Set(arns);
    const config = watchdogConfig({ boundServicesParameterCount: setServices(arns) });
    refusals = 1;

    expect(await check(config, NOW)).toMatchObject({ ssmCalls: 1, error: expect.stringContaining('ThrottlingException') });
    expect(await check(config, later(300_000))).toMatchObject({ services: 2, ssmCalls: 1, servicesCached: false });
  });
});
