import { RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { CliError, ExitCode } from '../../cli/errors';
import { createReporter } from '../../cli/render';
import { RotateOptions, runRotate } from '../../cli/rotate';
import { VERSION_VISIBLE_GRACE_MS } from '../../cli/rotation-watch';
import {
  awsError,
  Capture,
  deployment,
  FakeAws,
  fakeTime,
  LOG_GROUP,
  NEW_VERSION,
  OLD_VERSION,
  PARAMETER,
  SECRET_ARN,
  serviceArn,
  T0,
  testClients,
  TOKEN,
} from './fixtures';

const aws = new FakeAws();
afterAll(() => aws.restore());

const WEB = serviceArn('main', 'web');
const WORKER = serviceArn('main', 'worker');

const waitOpts = (over: Partial<RotateOptions> = {}): RotateOptions => ({
  secretId: SECRET_ARN,
  wait: true,
  timeoutMs: 30 * 60_000,
  intervalMs: 5_000,
  ...over,
});

/** Runs `rotate` with the fake world; `script` changes it before each poll after the first. */
async function rotate(script: (now: number, polls: number) => void, over: Partial<RotateOptions> = {}, signal?: AbortSignal) {
  const time = fakeTime(script);
  const stdout = new Capture();
  const stderr = new Capture();
  const reporter = createReporter({ stdout, stderr, live: false, now: time.now });
  let code: number | undefined;
  let error: CliError | undefined;
  try {
    code = await runRotate(waitOpts(over), { clients: testClients(), reporter, now: time.now, sleep: time.sleep, signal });
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    error = err;
  }
  const all = stdout.text + stderr.text;
  expect(all).not.toContain(TOKEN);
  expect(all).not.toContain(encodeURIComponent(TOKEN));
  expect(all).not.toContain('postgres://');
  return { code, error, stdout: stdout.text, stderr: stderr.text, now: time.now };
}

beforeEach(() => aws.reset());

test('follows AWSPENDING → AWSCURRENT and every rollout to COMPLETED, then exits 0', async () => {
  const r = await rotate((now, polls) => {
    if (polls === 1) {
      aws.promote(now - 1_000);
      aws.redeploy(WEB, 'ecs-svc/new-web', now - 500);
    }
    if (polls === 2) aws.redeploy(WORKER, 'ecs-svc/new-worker', now - 500);
    if (polls === 3) aws.complete(WEB);
    if (polls === 4) aws.complete(WORKER);
  });
  expect(r.error).toBeUndefined();
  expect(r.code).toBe(ExitCode.OK);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => l.replace(/^\S+ /, ''));
  expect(lines).toEqual([
    `Started rotation of app/database-url: new version 22222222 (${NEW_VERSION}), replacing 11111111.`,
    'version 22222222: AWSPENDING (the rotation function is creating and testing the new URL)',
    'version 22222222: AWSPENDING → AWSCURRENT (previous version 11111111 is now AWSPREVIOUS)',
    'version 22222222: token expires 2030-06-01T20:00:04Z (in 7h 59m)',
    'waiting for the new deployment of 2 bound services',
    'service main/web: deployment ecs-svc/new-web IN_PROGRESS 0/2',
    'service main/worker: deployment ecs-svc/new-worker IN_PROGRESS 0/2',
    'service main/web: deployment ecs-svc/new-web COMPLETED 2/2',
    'service main/worker: deployment ecs-svc/new-worker COMPLETED 2/2',
    'Done in 20s: version 22222222 is AWSCURRENT (token expires 2030-06-01T20:00:04Z); 2 of 2 bound services completed a new deployment.',
  ]);
  // Every line is timestamped.
  expect(
    r.stdout
      .trim()
      .split('\n')
      .every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /.test(l)),
  ).toBe(true);
  // Permissions to follow were checked, and deployments noted, before the rotation started.
  expect(aws.state.calls.indexOf('DescribeServices')).toBeLessThan(aws.state.calls.indexOf('RotateSecret'));
  // No message named the rotation function's log group: Lambda was not asked for it.
  expect(aws.state.calls).not.toContain('GetFunctionConfiguration');
});

test('a rotation the handler deferred ends at once with exit 0 and says when the real one comes', async () => {
  const r = await rotate((now, polls) => {
    if (polls === 1) aws.promoteDeferred(now + 600_000);
  });
  expect(r.code).toBe(ExitCode.OK);
  const last = r.stdout.trim().split('\n').pop()!;
  expect(last).toMatch(/Deferred: version 22222222 is AWSCURRENT with the same token/);
  expect(last).toMatch(/The watchdog rotates for real after \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; no service was redeployed\./);
});

test('without --wait: starts the rotation, says how to follow it, and reads neither SSM nor ECS', async () => {
  const r = await rotate(() => undefined, { wait: false });
  expect(r.code).toBe(ExitCode.OK);
  expect(r.stdout).toContain(`Started rotation of app/database-url: new version 22222222 (${NEW_VERSION}), replacing 11111111.`);
  expect(r.stdout).toContain(`cdk-dsql-url-secret status --secret-id ${SECRET_ARN}`);
  expect(aws.state.calls).toEqual(['DescribeSecret', 'RotateSecret']);
});

test('a rotation in progress (AWSPENDING on another version) is refused before RotateSecret', async () => {
  aws.state.stages[NEW_VERSION] = ['AWSPENDING'];
  const r = await rotate(() => undefined);
  expect(r.error?.exitCode).toBe(ExitCode.FAILED);
  expect(r.error?.message).toBe(
    'A rotation of app/database-url is already in progress: version 22222222 is still AWSPENDING (started 10m ago). ' +
      `Follow it with \`cdk-dsql-url-secret status --secret-id ${SECRET_ARN}\` and run rotate again once it has finished. ` +
      `If it stays in progress, the rotation function is failing and Secrets Manager keeps retrying it: see ${LOG_GROUP} ` +
      "(the construct's watchdog clears a stale AWSPENDING version).",
  );
  expect(aws.sm.commandCalls(RotateSecretCommand)).toHaveLength(0);
});

test('RotateSecret refusing because a rotation just started elsewhere gives the same advice', async () => {
  aws.state.errors.RotateSecret = awsError(
    'InvalidRequestException',
    "A previous rotation isn't complete. That rotation will be reattempted.",
  );
  const r = await rotate(() => undefined);
  expect(r.error?.exitCode).toBe(ExitCode.FAILED);
  expect(r.error?.message).toMatch(
    /^A rotation of app\/database-url is already in progress: Secrets Manager says a previous rotation isn't complete\. Follow it with/,
  );
});

test('a FAILED rollout exits 1 and says how to redeploy', async () => {
  const r = await rotate((now, polls) => {
    if (polls === 1) {
      aws.promote(now);
      aws.redeploy(WEB, 'ecs-svc/new-web', now);
      aws.redeploy(WORKER, 'ecs-svc/new-worker', now);
    }
    if (polls === 2) aws.complete(WEB);
    if (polls === 3) {
      aws.complete(WORKER, {
        rolloutState: 'FAILED',
        runningCount: 0,
        rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
      });
    }
  });
  expect(r.code).toBe(ExitCode.FAILED);
  expect(r.stdout).toContain(
    'service main/worker: deployment ecs-svc/new-worker FAILED 0/2: ECS deployment circuit breaker: tasks failed to start.',
  );
  expect(r.stderr).toContain(
    'Deployment FAILED: main/worker (ECS deployment circuit breaker: tasks failed to start.). Version 22222222 is AWSCURRENT',
  );
  expect(r.stderr).toContain('aws ecs update-service --cluster main --service worker --force-new-deployment');
});

test('a version that loses AWSPENDING without becoming AWSCURRENT is a failed rotation', async () => {
  const r = await rotate((_now, polls) => {
    if (polls === 1) delete aws.state.stages[NEW_VERSION];
  });
  expect(r.code).toBe(ExitCode.FAILED);
  expect(r.stderr).toContain(
    'The rotation failed: version 22222222 lost AWSPENDING without becoming AWSCURRENT (it was cleared or cancelled). ' +
      `AWSCURRENT is unchanged. See ${LOG_GROUP} for the step that failed.`,
  );
});

test('a version not visible yet is given a grace period, then counts as failed', async () => {
  aws.state.onRotate = () => undefined; // RotateSecret answered, but DescribeSecret does not list the version (yet)
  const r = await rotate(() => undefined);
  expect(r.code).toBe(ExitCode.FAILED);
  expect(r.stderr).toContain('version 22222222 never appeared');
  expect(r.now() - T0).toBeGreaterThan(VERSION_VISIBLE_GRACE_MS);
});

test('times out with exit 3 while the version is still AWSPENDING', async () => {
  const r = await rotate(() => undefined, { timeoutMs: 12_000 });
  expect(r.code).toBe(ExitCode.TIMEOUT);
  expect(r.now() - T0).toBe(12_000); // the last sleep is cut to the deadline
  expect(r.stderr).toContain('Timed out after 12s: version 22222222 is still AWSPENDING. Nothing was stopped: it goes on in AWS.');
  expect(r.stderr).toContain(`If it stays AWSPENDING, the rotation function is failing: see ${LOG_GROUP}.`);
  // Looked up once, for the message that names it, not at every poll.
  expect(aws.state.calls.filter((c) => c === 'GetFunctionConfiguration')).toHaveLength(1);
});

test('times out with exit 3 while services roll out or wait for their redeploy, and names them', async () => {
  const r = await rotate(
    (now, polls) => {
      if (polls === 1) {
        aws.promote(now);
        aws.redeploy(WEB, 'ecs-svc/new-web', now, { runningCount: 1 });
      }
    },
    { timeoutMs: 60_000 },
  );
  expect(r.code).toBe(ExitCode.TIMEOUT);
  expect(r.stderr).toContain(
    'Timed out after 1m: version 22222222 is AWSCURRENT, but 1 still rolling out (main/web 1/2) and 1 without a new deployment ' +
      `yet (main/worker; finishSecret may have failed to redeploy it: see ${LOG_GROUP}).`,
  );
});

test('prints a reminder each minute when nothing changes', async () => {
  const r = await rotate(() => undefined, { timeoutMs: 150_000, intervalMs: 10_000 });
  expect(r.stdout.match(/still waiting \(\d+m/g)).toHaveLength(2);
  expect(r.stdout).toContain('still waiting (1m elapsed): version 22222222 is AWSPENDING');
});

test('no bound services: done as soon as the version is AWSCURRENT', async () => {
  aws.state.parameter = undefined;
  const r = await rotate((now, polls) => {
    if (polls === 1) aws.promote(now);
  });
  expect(r.code).toBe(ExitCode.OK);
  expect(r.stdout).toContain(`no bound services (parameter ${PARAMETER} does not exist yet)`);
  expect(r.stdout).toContain(
    `Done in 5s: version 22222222 is AWSCURRENT (token expires 2030-06-01T20:00:05Z); no bound services (parameter ${PARAMETER} does not exist yet).`,
  );
  expect(aws.state.calls).not.toContain('DescribeServices');
});

test('a deleted service is skipped', async () => {
  aws.state.services.set(WORKER, undefined); // DescribeServices: failures MISSING
  const r = await rotate((now, polls) => {
    if (polls === 1) {
      aws.promote(now);
      aws.redeploy(WEB, 'ecs-svc/new-web', now);
    }
    if (polls === 2) aws.complete(WEB);
  });
  expect(r.code).toBe(ExitCode.OK);
  expect(r.stdout).toContain('service main/worker: gone (service not found (deleted)), skipped');
  expect(r.stdout).toContain('1 of 2 bound services completed a new deployment (1 gone, skipped).');
});

test('without rolloutState, a rollout is done once it is the only deployment and runs its desired count', async () => {
  aws.reset([WEB]);
  const r = await rotate((now, polls) => {
    if (polls === 1) {
      aws.promote(now);
      aws.redeploy(WEB, 'ecs-svc/new-web', now, { rolloutState: undefined });
    }
    // All tasks running, but the old deployment is still listed (draining): not done yet.
    if (polls === 2) aws.state.services.get(WEB)!.deployments[0].runningCount = 2;
    if (polls === 3) aws.complete(WEB, { rolloutState: undefined });
  });
  expect(r.code).toBe(ExitCode.OK);
  const web = r.stdout.split('\n').filter((l) => l.includes('service main/web'));
  expect(web.map((l) => l.replace(/^\S+ /, ''))).toEqual([
    'service main/web: deployment ecs-svc/new-web IN_PROGRESS* 0/2',
    'service main/web: deployment ecs-svc/new-web IN_PROGRESS* 2/2',
    'service main/web: deployment ecs-svc/new-web COMPLETED* 2/2 (no rolloutState from ECS: running = desired and no other deployment)',
  ]);
});

test("a deployment started well before the promotion is not the rotation's", async () => {
  aws.reset([WEB]);
  const r = await rotate((now, polls) => {
    // Someone deployed between RotateSecret and the promotion: its tasks read the previous value.
    if (polls === 1) aws.redeploy(WEB, 'ecs-svc/unrelated', now, { rolloutState: 'COMPLETED', runningCount: 2 });
    if (polls === 2) aws.promote(now + 30_000);
    if (polls === 8) aws.redeploy(WEB, 'ecs-svc/rotation', now);
    if (polls === 9) aws.complete(WEB);
  });
  expect(r.code).toBe(ExitCode.OK);
  expect(r.stdout).not.toContain('ecs-svc/unrelated');
  expect(r.stdout).toContain('service main/web: deployment ecs-svc/rotation COMPLETED 2/2');
});

test('DescribeServices is batched by 10 services per cluster', async () => {
  const arns = [
    ...Array.from({ length: 23 }, (_, i) => serviceArn('main', `s${i}`)),
    ...Array.from({ length: 3 }, (_, i) => serviceArn('other', `t${i}`)),
  ];
  aws.reset(arns);
  const r = await rotate((now, polls) => {
    if (polls === 1) {
      aws.promote(now);
      for (const a of arns) aws.redeploy(a, `ecs-svc/new-${a.split('/').pop()}`, now);
    }
    if (polls === 2) for (const a of arns) aws.complete(a);
  });
  expect(r.code).toBe(ExitCode.OK);
  const sizes = aws.ecs.calls().map((c) => (c.args[0].input as { services: string[] }).services.length);
  // Baseline, then two polls: 10 + 10 + 3 in main, 3 in other, each time.
  expect(sizes).toEqual([10, 10, 3, 3, 10, 10, 3, 3, 10, 10, 3, 3]);
  expect(r.stdout).toContain('26 of 26 bound services completed a new deployment.');
});

test('no permission to follow the rollouts: fails before starting the rotation', async () => {
  aws.state.errors.DescribeServices = awsError('AccessDeniedException', 'not authorized to perform: ecs:DescribeServices', 403);
  const r = await rotate(() => undefined);
  expect(r.error?.message).toMatch(
    /^Permission denied: DescribeServices was refused \(AccessDeniedException: .*\)\. Allow ecs:DescribeServices on the services in cluster main \(2 of them\)/,
  );
  expect(aws.sm.commandCalls(RotateSecretCommand)).toHaveLength(0);
});

test('no permission to rotate: names secretsmanager:RotateSecret and lambda:InvokeFunction', async () => {
  aws.state.errors.RotateSecret = awsError('AccessDeniedException', 'denied', 403);
  const r = await rotate(() => undefined, { wait: false });
  expect(r.error?.message).toBe(
    `Permission denied: RotateSecret was refused (AccessDeniedException: denied). Allow secretsmanager:RotateSecret on the secret ${SECRET_ARN} ` +
      'for the AWS identity this command runs as. RotateSecret also needs lambda:InvokeFunction on the rotation function ' +
      '(AppStack-RotationFunction).',
  );
});

test('no permission to read the value: the rotation is still followed, without the expiry', async () => {
  aws.reset([WEB]);
  aws.state.errors.GetSecretValue = awsError('AccessDeniedException', 'denied', 403);
  const r = await rotate((now, polls) => {
    if (polls === 1) {
      aws.promote(now);
      aws.redeploy(WEB, 'ecs-svc/new-web', now);
    }
    if (polls === 2) aws.complete(WEB);
  });
  expect(r.code).toBe(ExitCode.OK);
  expect(r.stdout).toContain('version 22222222: token expiry not readable (needs secretsmanager:GetSecretValue)');
});

test('Ctrl-C stops watching with exit 130 and says the rotation goes on', async () => {
  const controller = new AbortController();
  const time = fakeTime();
  const stdout = new Capture();
  const stderr = new Capture();
  const reporter = createReporter({ stdout, stderr, live: false, now: time.now });
  const sleep = async (_ms: number, signal?: AbortSignal) => {
    controller.abort();
    if (signal?.aborted) throw Object.assign(new Error('interrupted'), { name: 'AbortError' });
  };
  const code = await runRotate(waitOpts(), { clients: testClients(), reporter, now: time.now, sleep, signal: controller.signal });
  expect(code).toBe(ExitCode.INTERRUPTED);
  expect(stderr.text).toContain(
    `Stopped watching. The rotation of app/database-url goes on in AWS: follow it with cdk-dsql-url-secret status --secret-id ${SECRET_ARN}`,
  );
});

test('the old deployment of the baseline never counts, even with a later createdAt', async () => {
  aws.reset([WEB]);
  // ECS bumps nothing on old deployments, but a clock-skewed createdAt must not matter: ids decide.
  aws.state.services.get(WEB)!.deployments = [deployment('ecs-svc/old', T0 + 3_600_000)];
  const r = await rotate(
    (now, polls) => {
      if (polls === 1) aws.promote(now);
    },
    { timeoutMs: 20_000 },
  );
  expect(r.code).toBe(ExitCode.TIMEOUT);
  expect(r.stderr).toContain('1 without a new deployment yet (main/web;');
  expect(OLD_VERSION).toBeDefined();
});

test('a newer rotation moving AWSCURRENT on after ours was promoted is not a failure', async () => {
  aws.reset([WEB]);
  const r = await rotate((now, polls) => {
    if (polls === 1) {
      aws.promote(now);
      aws.redeploy(WEB, 'ecs-svc/new-web', now);
    }
    if (polls === 2) aws.state.stages = { [NEW_VERSION]: ['AWSPREVIOUS'], '33333333-cccc-4ccc-8ccc-000000000003': ['AWSCURRENT'] };
    if (polls === 3) aws.complete(WEB);
  });
  expect(r.code).toBe(ExitCode.OK);
  expect(r.stdout).toContain('service main/web: deployment ecs-svc/new-web COMPLETED 2/2');
});

test('a throttled or dropped poll is shown and retried; a permission error mid-wait is not', async () => {
  aws.reset([WEB]);
  const r = await rotate((now, polls) => {
    if (polls === 1) {
      aws.promote(now);
      aws.redeploy(WEB, 'ecs-svc/new-web', now);
    }
    if (polls === 2) aws.state.errors.DescribeServices = awsError('ThrottlingException', 'Rate exceeded');
    if (polls === 4) {
      delete aws.state.errors.DescribeServices;
      aws.complete(WEB);
    }
  });
  expect(r.code).toBe(ExitCode.OK);
  expect(r.stdout).toContain(
    'warning: AWS throttled DescribeServices (ThrottlingException) even after retries. Try again in a minute, or poll less often ' +
      'with --interval. (poll 1 of 5 failed in a row; trying again)',
  );
  expect(r.stdout).toContain('(poll 2 of 5 failed in a row; trying again)');

  aws.reset([WEB]);
  const denied = await rotate((now, polls) => {
    if (polls === 1) aws.promote(now);
    if (polls === 2) aws.state.errors.DescribeServices = awsError('AccessDeniedException', 'denied', 403);
  });
  expect(denied.error?.message).toMatch(/^Permission denied: DescribeServices was refused/);
});

test('gives up after too many transient failures in a row', async () => {
  const r = await rotate((_now, polls) => {
    if (polls === 1) aws.state.errors.DescribeSecret = Object.assign(awsError('InternalServiceError', 'oops', 500));
  });
  expect(r.error?.message).toBe('DescribeSecret failed: InternalServiceError: oops');
  expect(r.stdout).toContain('(poll 5 of 5 failed in a row; trying again)');
});
