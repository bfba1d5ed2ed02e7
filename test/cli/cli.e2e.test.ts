/**
 * The bundled CLI (built by scripts/bundle-cli.mjs, run from a copy outside the repository) as a
 * child process, against moto through the RotateSecret interceptor, which plays Secrets Manager's
 * rotation service with the real bundled rotation handler, and ECS's rollouts (see
 * test/support/rotate-secret-interceptor.ts). Tests run in order and share one stack.
 */
import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import { promisify } from 'util';
import { CreateSecretCommand, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { deploymentsOf } from '../support/ecs-fixture';
import { describeStages, RotationFailedError, rotateSecret } from '../support/rotation-service';
import {
  bundleCli,
  CLI_BUNDLE,
  CliResult,
  CliStack,
  MANAGED_BY,
  runCli,
  RunOptions,
  startCliStack,
  TEST_ACCESS_KEY_ID,
  TEST_SECRET_ACCESS_KEY,
} from './e2e-helpers';

jest.setTimeout(120_000);

let bundle: Awaited<ReturnType<typeof bundleCli>>;
let s: CliStack;
/** Everything the CLI printed, checked for secrets at the end. */
const printed: string[] = [];
/** Every token and URL the secret ever held. */
const secrets = new Set<string>();

const CLUSTERS = 2;
const SERVICES_PER_CLUSTER = 11; // 11 in a cluster: DescribeServices is called with 10, then 1
const FAST = ['--interval', '250ms'];

beforeAll(async () => {
  [bundle, s] = await Promise.all([
    bundleCli(),
    startCliStack({ clusters: CLUSTERS, services: SERVICES_PER_CLUSTER, rollout: { durationMs: 1_500 } }),
  ]);
}, 180_000);

afterAll(async () => {
  await s?.stop();
  bundle?.remove();
});

async function cli(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  const r = await runCli(bundle.cli, [...args, '--endpoint-url', s.interceptor.endpoint], opts);
  printed.push(r.stdout, r.stderr);
  return r;
}

const secretId = () => s.stack.secretArn;
const current = async () => {
  const stages = await describeStages(s.stack.sm, secretId());
  return Object.entries(stages).find(([, l]) => l.includes('AWSCURRENT'))![0];
};
async function rememberSecrets(): Promise<void> {
  const value = await s.stack.readStage('AWSCURRENT');
  if (value.password) secrets.add(value.password);
  if (value.url) secrets.add(value.url);
}
const label = (arn: string) => arn.split('/').slice(-2).join('/');
/** Timestamps off: `2030-…Z text` → `text`. */
const untimed = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /, ''));

test('the bundle is executable, starts with a shebang and runs outside the repository', async () => {
  expect(fs.readFileSync(CLI_BUNDLE, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  expect(fs.statSync(CLI_BUNDLE).mode & 0o111).not.toBe(0);
  const direct = await promisify(execFile)(CLI_BUNDLE, ['--help'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  expect(direct.stdout).toContain('Exit codes:');
  // The copy lives in a temporary directory: any require() the bundle left out would fail there.
  const version = await runCli(bundle.cli, ['--version']);
  expect(version).toMatchObject({ code: 0, stdout: `${JSON.parse(fs.readFileSync('package.json', 'utf8')).version}\n`, stderr: '' });
});

test('status before the first rotation: the placeholder, and every bound service', async () => {
  const r = await cli(['status', '--secret-id', secretId()]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`Managed by:       ${MANAGED_BY}`);
  expect(r.stdout).toContain(`Current version:  ${(await current()).slice(0, 8)}`);
  expect(r.stdout).toContain('Token expires:    no token yet: AWSCURRENT is the placeholder');
  expect(r.stdout).toContain('Next rotation:    every 4h via EventBridge Scheduler');
  expect(r.stdout).toContain(`Bound services:   ${CLUSTERS * SERVICES_PER_CLUSTER} (from ${s.stack.parameterName})`);
  for (const arn of s.stack.serviceArns) expect(r.stdout).toContain(`  ${label(arn)} `);
});

test('rotate --wait (not a terminal): AWSPENDING → AWSCURRENT, then every service COMPLETED, exit 0', async () => {
  const before = await deploymentsOf(s.stack.ecs, s.stack.serviceArns);
  const previous = await current();
  const r = await cli(['rotate', '--secret-id', secretId(), '--wait', ...FAST]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);

  const rotation = s.interceptor.rotations.at(-1)!;
  await rotation.done;
  expect(rotation.error).toBeUndefined();
  const v = rotation.versionId!;
  expect(await current()).toBe(v);
  await rememberSecrets();

  const lines = untimed(r.stdout);
  expect(lines[0]).toBe(
    `Started rotation of ${s.stack.secretArn
      .split(':')
      .pop()!
      .replace(/-[A-Za-z0-9]{6}$/, '')}: new version ${v.slice(0, 8)} (${v}), ` + `replacing ${previous.slice(0, 8)}.`,
  );
  const pending = lines.indexOf(`version ${v.slice(0, 8)}: AWSPENDING (the rotation function is creating and testing the new URL)`);
  const promoted = lines.indexOf(
    `version ${v.slice(0, 8)}: AWSPENDING → AWSCURRENT (previous version ${previous.slice(0, 8)} is now AWSPREVIOUS)`,
  );
  expect(pending).toBeGreaterThan(0);
  expect(promoted).toBeGreaterThan(pending);
  expect(lines[promoted + 1]).toMatch(
    new RegExp(`^version ${v.slice(0, 8)}: token expires \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ \\(in 7h 59m\\)$`),
  );
  const after = await deploymentsOf(s.stack.ecs, s.stack.serviceArns);
  for (const arn of s.stack.serviceArns) {
    const id = after.get(arn)![0].id;
    expect(id).not.toBe(before.get(arn)![0].id); // moto: forceNewDeployment rewrote the single deployment
    expect(lines).toContain(`service ${label(arn)}: deployment ${id} COMPLETED 1/1`);
    expect(lines.indexOf(`service ${label(arn)}: deployment ${id} COMPLETED 1/1`)).toBeGreaterThan(promoted);
  }
  expect(lines.at(-1)).toMatch(
    new RegExp(
      `^Done in \\d+s: version ${v.slice(0, 8)} is AWSCURRENT \\(token expires .*\\); ` +
        `${CLUSTERS * SERVICES_PER_CLUSTER} of ${CLUSTERS * SERVICES_PER_CLUSTER} bound services completed a new deployment\\.$`,
    ),
  );
  // DescribeServices at most 10 at a time.
  expect(s.interceptor.calls).toContain('DescribeServices');
});

test('status after a rotation: version, expiry, and services on the new version', async () => {
  const value = await s.stack.readStage('AWSCURRENT');
  const r = await cli(['status', '--secret-id', secretId()]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`Current version:  ${(await current()).slice(0, 8)}`);
  expect(r.stdout).toMatch(/Rotated: {10}\d{4}-\d\d-\d\dT[\d:]+Z \((now|\d+s ago)\)/);
  expect(r.stdout).toContain(`Token expires:    ${value.expiresAt.replace(/\.\d{3}Z$/, 'Z')} (7h 59m left)`);
  expect(r.stdout).toMatch(/Next rotation: {4}\d{4}-\d\d-\d\dT[\d:]+Z \(in 23h 59m\)/); // moto: the stand-in's 1-day rule
  expect(r.stdout).toContain('In progress:      no');
  for (const arn of s.stack.serviceArns)
    expect(r.stdout).toMatch(new RegExp(`  ${label(arn)} +ecs-svc/\\S+ +COMPLETED +1/1 +\\S+( ago)? +yes`));
});

test('status --json parses and matches AWS', async () => {
  const r = await cli(['status', '--secret-id', secretId(), '--json']);
  expect(r.code).toBe(0);
  const report = JSON.parse(r.stdout);
  const value = await s.stack.readStage('AWSCURRENT');
  expect(report.currentVersion.id).toBe(await current());
  expect(report.token).toMatchObject({ state: 'valid', expiresAt: value.expiresAt, issuedAt: value.issuedAt, username: 'admin' });
  expect(report.rotation).toMatchObject({
    enabled: true,
    inProgress: false,
    pendingVersion: null,
    nextRotation: { source: 'secrets-manager' },
  });
  expect(report.boundServices.services.map((x: { arn: string }) => x.arn)).toEqual(s.stack.serviceArns);
  expect(
    report.boundServices.services.every(
      (x: { deployment: { rolloutState: string; startedAfterRotation: boolean } }) =>
        x.deployment.rolloutState === 'COMPLETED' && x.deployment.startedAfterRotation,
    ),
  ).toBe(true);
  expect(r.stdout).not.toMatch(/"(url|password)"/);
});

test('secret not found: exit 1 with the fix', async () => {
  const r = await cli(['status', '--secret-id', 'no/such-secret']);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toBe(
    "error: Secret 'no/such-secret' not found in us-east-1. Check the name or ARN and the region (--region, AWS_REGION, " +
      "or pass the full ARN); the construct's secret is `dbUrl.secret.secretArn` in your CDK app.\n",
  );
  expect((await cli(['rotate', '--secret-id', 'no/such-secret'])).code).toBe(1);
});

test('a secret the construct does not manage: exit 1, nothing rotated', async () => {
  const other = await s.stack.sm.send(new CreateSecretCommand({ Name: 'someone-elses/secret', SecretString: '{"password":"hunter2"}' }));
  const calls = s.interceptor.rotations.length;
  for (const args of [['status'], ['rotate', '--wait']]) {
    const r = await cli([...args, '--secret-id', other.ARN!]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "error: Secret someone-elses/secret is not managed by cdk-dsql-url-secret: it has no tag 'cdk-dsql-url-secret:managed-by'.",
    );
  }
  expect(s.interceptor.rotations.length).toBe(calls);
});

test('a rotation in progress: rotate exits 1 and says so, status shows it', async () => {
  // A rotation whose steps all fail leaves AWSPENDING on its version, as on AWS.
  const stuck: string = await rotateSecret({
    sm: s.stack.sm,
    secretId: secretId(),
    maxAttempts: 1,
    invokeStep: async () => {
      throw new Error('simulated failure');
    },
  }).then(
    () => {
      throw new Error('the rotation was meant to fail');
    },
    (err: RotationFailedError) => err.token,
  );
  try {
    const r = await cli(['rotate', '--secret-id', secretId(), '--wait']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error: A rotation of ${s.stack.secretArn
        .split(':')
        .pop()!
        .replace(/-[A-Za-z0-9]{6}$/, '')} is already in progress: ` + `version ${stuck.slice(0, 8)} is still AWSPENDING (started `,
    );
    expect(r.stderr).toContain(`Follow it with \`cdk-dsql-url-secret status --secret-id ${secretId()}\``);
    const st = await cli(['status', '--secret-id', secretId()]);
    expect(st.stdout).toContain(`In progress:      yes: version ${stuck.slice(0, 8)} is AWSPENDING`);
  } finally {
    await s.stack.sm.send(
      new UpdateSecretVersionStageCommand({ SecretId: secretId(), VersionStage: 'AWSPENDING', RemoveFromVersionId: stuck }),
    );
  }
});

test('--timeout 1s with a slow rotation: exit 3, and the rotation goes on', async () => {
  s.interceptor.stepDelayMs = 1_000;
  try {
    const started = Date.now();
    const r = await cli(['rotate', '--secret-id', secretId(), '--wait', '--timeout', '1s', ...FAST]);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.code).toBe(3);
    const rotation = s.interceptor.rotations.at(-1)!;
    expect(r.stderr).toContain(
      `Timed out after 1s: version ${rotation.versionId!.slice(0, 8)} is still AWSPENDING. Nothing was stopped: it goes on in AWS.`,
    );
    await rotation.done;
    expect(rotation.error).toBeUndefined();
    expect(await current()).toBe(rotation.versionId);
    await rememberSecrets();
  } finally {
    s.interceptor.stepDelayMs = 0;
  }
});

test('a deployment that FAILS: exit 1, naming the service', async () => {
  const bad = s.stack.serviceArns[3];
  s.interceptor.rollout = { durationMs: 1_000, fail: [bad] };
  try {
    const r = await cli(['rotate', '--secret-id', secretId(), '--wait', ...FAST]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      new RegExp(`service ${label(bad)}: deployment ecs-svc/\\d+ FAILED 0/1: ECS deployment circuit breaker: tasks failed to start\\.`),
    );
    expect(r.stderr).toContain(`Deployment FAILED: ${label(bad)} (ECS deployment circuit breaker: tasks failed to start.).`);
    expect(r.stderr).toContain(
      `aws ecs update-service --cluster ${label(bad).split('/')[0]} --service ${label(bad).split('/')[1]} --force-new-deployment`,
    );
    await s.interceptor.idle();
    await rememberSecrets();
  } finally {
    s.interceptor.rollout = { durationMs: 1_500 };
  }
});

test('no rolloutState from ECS: completed once running = desired and no other deployment is left', async () => {
  s.interceptor.rollout = { durationMs: 1_000, omitRolloutState: true };
  try {
    const r = await cli(['rotate', '--secret-id', secretId(), '--wait', ...FAST]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const arn = s.stack.serviceArns[0];
    expect(r.stdout).toMatch(new RegExp(`service ${label(arn)}: deployment \\S+ IN_PROGRESS\\* 0/1`));
    expect(r.stdout).toMatch(
      new RegExp(
        `service ${label(arn)}: deployment \\S+ COMPLETED\\* 1/1 \\(no rolloutState from ECS: running = desired and no other deployment\\)`,
      ),
    );
    await s.interceptor.idle();
    await rememberSecrets();
  } finally {
    s.interceptor.rollout = { durationMs: 1_500 };
  }
});

test('plain moto (no rollout simulation): its deployments stay IN_PROGRESS 0/1, so --wait times out with exit 3', async () => {
  s.interceptor.rollout = undefined;
  try {
    // Long enough for the rotation itself on a loaded machine; the rollouts never finish here.
    const r = await cli(['rotate', '--secret-id', secretId(), '--wait', '--timeout', '20s', ...FAST]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('AWSPENDING → AWSCURRENT');
    expect(r.stderr).toMatch(
      new RegExp(
        `Timed out after 20s: version \\w{8} is AWSCURRENT, but ${CLUSTERS * SERVICES_PER_CLUSTER} still rolling out \\(` +
          `${label(s.stack.serviceArns[0])} 0/1, `,
      ),
    );
    await s.interceptor.idle();
    await rememberSecrets();
  } finally {
    s.interceptor.rollout = { durationMs: 1_500 };
  }
});

test(`live table with ${'CDK_DSQL_URL_SECRET_TTY'}=1: redrawn in place, exit 0`, async () => {
  const r = await cli(['rotate', '--secret-id', secretId(), '--wait', ...FAST], { env: { CDK_DSQL_URL_SECRET_TTY: '1', COLUMNS: '100' } });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('\x1b[?25l');
  expect(r.stdout).toMatch(/\r\x1b\[\d+A\x1b\[J/); // at least one redraw
  expect(r.stdout).not.toMatch(/^\d{4}-\d\d-\d\dT/m); // no log lines
  const lastFrame = r.stdout.slice(r.stdout.lastIndexOf('Rotating '));
  expect(lastFrame).toContain('AWSPENDING → AWSCURRENT ✓');
  for (const arn of s.stack.serviceArns) expect(lastFrame).toMatch(new RegExp(`${label(arn)} +ecs-svc/\\S+ +COMPLETED +1/1`));
  expect(r.stdout).toMatch(/\x1b\[\?25hDone in \d+s: version \w{8} is AWSCURRENT/);
  await s.interceptor.idle();
  await rememberSecrets();
});

const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

(hasScript ? test : test.skip)('live table on a real pseudo-terminal (util-linux script): exit code passes through', async () => {
  const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
  const r = await cli(['rotate', '--secret-id', secretId(), '--wait', ...FAST], {
    env: { TERM: 'xterm' },
    wrap: (argv) => ({ file: 'script', args: ['-qefc', argv.map(quote).join(' '), '/dev/null'] }),
  });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('\x1b[?25l'); // isTTY was true: the live table
  expect(r.stdout).toMatch(/\x1b\[\?25hDone in \d+s/);
  await s.interceptor.idle();
  await rememberSecrets();
});

test('Ctrl-C while waiting: exit 130, the rotation goes on', async () => {
  s.interceptor.stepDelayMs = 500;
  try {
    let sent = false;
    const r = await cli(['rotate', '--secret-id', secretId(), '--wait', ...FAST], {
      onStdout: (chunk, child) => {
        if (!sent && chunk.includes('AWSPENDING')) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('Stopped watching. The rotation of ');
    const rotation = s.interceptor.rotations.at(-1)!;
    await rotation.done;
    expect(rotation.error).toBeUndefined();
    await rememberSecrets();
  } finally {
    s.interceptor.stepDelayMs = 0;
  }
});

test('missing permission: exit 1 naming the API call and the IAM action', async () => {
  s.stack.proxy.inject({ operation: 'DescribeServices', errorType: 'AccessDeniedException', status: 400, count: 1 });
  const r = await cli(['status', '--secret-id', secretId()]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(
    /^error: Permission denied: DescribeServices was refused \(AccessDeniedException: injected AccessDeniedException\)\. Allow ecs:DescribeServices on the services in cluster app-cluster-1 \(10 of them\) for the AWS identity this command runs as\.\n$/,
  );
});

test('nothing printed ever holds a token, a URL with its password, or the access key', () => {
  expect(secrets.size).toBeGreaterThanOrEqual(8); // token and URL of each rotation above
  const all = printed.join('\n');
  for (const secret of secrets) {
    expect(all.includes(secret)).toBe(false);
    expect(all.includes(encodeURIComponent(secret))).toBe(false);
  }
  expect(all).not.toContain('X-Amz-Signature');
  expect(all).not.toContain('postgres://');
  expect(all).not.toContain(TEST_ACCESS_KEY_ID);
  expect(all).not.toContain(TEST_SECRET_ACCESS_KEY);
});
