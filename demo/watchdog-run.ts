/**
 * One scheduled run of the shipped watchdog bundle in the demo, with the configuration the construct writes
 * (lib/watchdog.ts), against the task simulator's running tasks (moto runs none). Its result says how many
 * running tasks started before the current promotion (they hold AWSPREVIOUS's token, or an older one) and
 * whether each bound function holds AWSCURRENT's value.
 */
import type { WatchdogResult } from '../functions/watchdog';
import { FunctionBundle, WatchdogFunctionConfig } from '../lib/contract';
import { functionConfigEnv, LocalStack } from '../test/support/local-stack';
import { c, DemoError, duration, ms, OK, Output, pad } from './report';

export interface WatchdogRun {
  readonly result: WatchdogResult;
  /** Tasks running now, per the task model: the fleet check's stale tasks are some of them. */
  readonly runningTasks: number;
  readonly ms: number;
}

/** Runs the watchdog once; throws when its invocation fails. */
export async function runWatchdog(s: LocalStack, rolloutAllowanceSeconds: number): Promise<WatchdogRun> {
  if (!s.tasks) throw new DemoError('the watchdog run needs the local stack started with the task simulator');
  const config = {
    secretArn: s.secretArn,
    // AWSCURRENT has hours left: the token check starts no rotation.
    rotateBeforeExpirySeconds: 60,
    stalePendingSeconds: 900,
    metricDimension: 'demo',
    connectTimeoutSeconds: 5,
    boundServicesParameter: s.parameterName,
    boundServicesParameterCount: 1,
    boundServicesFingerprint: `demo-${s.parameterName}`,
    boundFunctionsParameter: s.functionsParameterName,
    boundFunctionsParameterCount: 1,
    rolloutAllowanceSeconds,
    redeployConcurrency: 5,
  } satisfies WatchdogFunctionConfig;
  const started = Date.now();
  const out = await s.invokeFunction(
    FunctionBundle.WATCHDOG,
    { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} },
    { awsOnly: true, env: functionConfigEnv(config) },
  );
  if (!out.ok) throw new DemoError(`the watchdog failed: ${out.error.name}: ${out.error.message}`);
  const runningTasks = s.serviceArns.reduce((n, arn) => n + s.tasks!.counts(arn).running, 0);
  return { result: out.result as WatchdogResult, runningTasks, ms: Date.now() - started };
}

/**
 * Runs the watchdog once just after the last rotation, `slow`'s new task held back, and prints what it saw:
 * one task still on AWSPREVIOUS's token (not healed yet, within rolloutAllowance) and the bound function current.
 */
export async function showWatchdogRun(out: Output, s: LocalStack, slow: string, rolloutAllowanceSeconds: number): Promise<void> {
  out.section('Watchdog (one scheduled run of its bundle)');
  out.status('running the watchdog: token check, fleet check, function check');
  const { result, runningTasks, ms: took } = await runWatchdog(s, rolloutAllowanceSeconds);
  const { fleet, functions } = result;
  const svc = (arn: string) => arn.split('/').pop()!;
  if (fleet.failed.length > 0 || fleet.error) throw new DemoError(`the fleet check failed: ${fleet.error ?? fleet.failed.join(', ')}`);
  if (fleet.staleTasks !== 1 || fleet.staleServices !== 1) {
    throw new DemoError(`the fleet check saw ${fleet.staleTasks} stale tasks in ${fleet.staleServices} services, not ${svc(slow)}'s one`);
  }
  const previousLeft = Date.parse((await s.readStage('AWSPREVIOUS')).expiresAt) - Date.now();
  if (fleet.secondsLeft === undefined || Math.abs(fleet.secondsLeft - previousLeft / 1000) > took / 1000 + 2) {
    throw new DemoError(`FleetTokenSecondsLeft is ${fleet.secondsLeft}, not AWSPREVIOUS's ${Math.round(previousLeft / 1000)} s left`);
  }
  out.line(
    `  ${OK} ${pad('fleet check', 15)} ${fleet.services} services, ${runningTasks} running tasks: ` +
      `${runningTasks - fleet.staleTasks} on AWSCURRENT's token, ${fleet.staleTasks} on AWSPREVIOUS's ` +
      c.dim(`(${svc(slow)}: its new task held back in the task model, a slow rollout)`),
  );
  out.line(
    `    ${c.dim('FleetTokenSecondsLeft')} ${fleet.secondsLeft} ${c.dim(`(the oldest token in use, AWSPREVIOUS's: ${duration(previousLeft)})`)}; ` +
      `healed ${fleet.healed.length} ${c.dim(`(still within rolloutAllowance, ${duration(rolloutAllowanceSeconds * 1000)}, of the promotion)`)}`,
  );
  if (functions.error || functions.stale.length > 0 || functions.functions !== 1) {
    throw new DemoError(
      `the function check found ${functions.functions} functions, stale: ${functions.stale.join(', ') || functions.error}`,
    );
  }
  out.line(
    `  ${OK} ${pad('function check', 15)} ${functions.functions} bound function, holds AWSCURRENT's url; ` +
      `${functions.reapplied.length} re-applied ${c.dim(`(token check: ${result.action}, connected ${result.connected}; ${ms(took)})`)}`,
  );
}
