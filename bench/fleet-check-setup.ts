/**
 * The fleet of bench/fleet-check-calls.ts, and one fleet check as the watchdog runs it: services in moto, their
 * bound-services parameters, the watchdog configuration the construct would write, and the real `checkFleet`.
 */
import { CreateClusterCommand, CreateServiceCommand, ECSClient, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { checkFleet, FleetSummary } from '../functions/fleet-check';
import { DEFAULT_RETRY } from '../functions/retry';
import { boundServicesParameterName, MetricName, WatchdogFunctionConfig } from '../lib/contract';
import { PromotionHistoryTag, PromotionRecord } from '../lib/secret-tags';
import { MotoServer } from '../test/support/moto-server';

export const HOUR = 3600_000;
/** The clock the simulator and the check share: the check runs 2 minutes after the promotion. */
export const PROMOTED_AT = Date.parse('2026-06-01T12:00:00Z');
export const CHECK_AT = PROMOTED_AT + 120_000;
export const HISTORY: PromotionRecord[] = [
  { versionId: 'current-version', promotedAt: new Date(PROMOTED_AT), expiresAt: new Date(PROMOTED_AT + 8 * HOUR) },
  { versionId: 'previous-version', promotedAt: new Date(PROMOTED_AT - 4 * HOUR), expiresAt: new Date(PROMOTED_AT + 4 * HOUR) },
];
export const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:bench/db-url-AbCdEf';

/** N services over `clusters` clusters in moto (created directly, not counted), and their bound-services parameters. */
export async function createFleet(
  moto: MotoServer,
  n: number,
  o: { readonly clusters: number; readonly perParameter: number },
): Promise<{ arns: string[]; base: string; parameters: number }> {
  await moto.reset();
  const ecs = new ECSClient(moto.clientConfig());
  const ssm = new SSMClient(moto.clientConfig());
  try {
    const clusters = Math.min(o.clusters, n);
    for (let c = 0; c < clusters; c++) await ecs.send(new CreateClusterCommand({ clusterName: `fleet-${c + 1}` }));
    const td = await ecs.send(
      new RegisterTaskDefinitionCommand({ family: 'app', containerDefinitions: [{ name: 'app', image: 'app:1', memory: 512 }] }),
    );
    const taskDefinition = td.taskDefinition!.taskDefinitionArn!;
    const arns: string[] = [];
    for (let i = 0; i < n; i++) {
      const cluster = `fleet-${(i % clusters) + 1}`;
      const s = await ecs.send(new CreateServiceCommand({ cluster, serviceName: `svc-${i}`, taskDefinition, desiredCount: 1 }));
      arns.push(s.service!.serviceArn!);
    }
    const base = `/bench/fleet-${n}/bound-services`;
    const parameters = Math.ceil(n / o.perParameter);
    for (let p = 0; p < parameters; p++) {
      const value = JSON.stringify(arns.slice(p * o.perParameter, (p + 1) * o.perParameter));
      await ssm.send(new PutParameterCommand({ Name: boundServicesParameterName(base, p), Type: 'String', Value: value }));
    }
    return { arns, base, parameters };
  } finally {
    ecs.destroy();
    ssm.destroy();
  }
}

/** The watchdog's configuration as the construct writes it for this fleet; the allowance is long enough that no heal runs. */
export function watchdogConfig(fleet: { base: string; parameters: number }, n: number): WatchdogFunctionConfig {
  return {
    secretArn: SECRET_ARN,
    rotateBeforeExpirySeconds: 2580,
    stalePendingSeconds: 1200,
    metricDimension: 'bench',
    connectTimeoutSeconds: 10,
    boundServicesParameter: fleet.base,
    boundServicesParameterCount: fleet.parameters,
    boundServicesFingerprint: `bench-${n}`,
    boundFunctionsParameter: fleet.base.replace(/bound-services$/, 'bound-functions'),
    boundFunctionsParameterCount: 1,
    rolloutAllowanceSeconds: 1800,
    redeployConcurrency: 5,
  };
}

export interface Check {
  summary: FleetSummary;
  /** FleetTokenSecondsLeft as the check emitted it. */
  secondsLeft?: number;
}

/**
 * One fleet check as the watchdog runs it, its log and metric lines kept off the terminal: `checkFleet` with the
 * secret's metadata (the promotion history tag finishSecret writes) and AWSCURRENT's dates.
 */
export async function fleetCheck(ssm: SSMClient, ecs: ECSClient, config: WatchdogFunctionConfig): Promise<Check> {
  const written: string[] = [];
  const [out, err] = [process.stdout.write, process.stderr.write];
  const keep = ((chunk: unknown) => written.push(String(chunk)) > 0) as typeof process.stdout.write;
  process.stdout.write = process.stderr.write = keep;
  let summary: FleetSummary;
  try {
    summary = await checkFleet({
      ssm,
      ecs,
      config,
      secretArn: SECRET_ARN,
      metadata: {
        VersionIdsToStages: { 'current-version': ['AWSCURRENT'], 'previous-version': ['AWSPREVIOUS'] },
        Tags: [{ Key: PromotionHistoryTag.key, Value: PromotionHistoryTag.encode(HISTORY) }],
      },
      current: { issuedAt: new Date(PROMOTED_AT - 60_000), expiresAt: HISTORY[0].expiresAt },
      now: new Date(CHECK_AT),
      // With no fault injected each call is one call at the proxy.
      retry: { ...DEFAULT_RETRY, maxAttempts: 1 },
    });
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  const metric = written
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes(MetricName.FLEET_TOKEN_SECONDS_LEFT))
    .map((l) => JSON.parse(l) as Record<string, number>)[0];
  return { summary, secondsLeft: metric?.[MetricName.FLEET_TOKEN_SECONDS_LEFT] };
}
