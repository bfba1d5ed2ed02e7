/**
 * The flows whose AWS calls the least-privilege test checks, run with the shipped bundles against moto,
 * every caller with an access key of its own so that the call recorder (test/support/call-recorder.ts)
 * can tell them apart:
 *   first rotation (Create) -> a scheduled rotation (bound ECS services, a CODE_DEPLOY service, two bound
 *   functions, one with an alias; the access-key signer creates and deletes keys) -> the watchdog (a run
 *   that rotates, then a fleet check over running tasks) -> the CLI (status --json, rotate --wait) ->
 *   first rotation (Delete).
 * The stack's names are those of the synthesized template where the construct fixes them (the
 * parameters); the rest is mapped from logical ids (see least-privilege.test.ts).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CodeDeployClient, ListDeploymentsCommand } from '@aws-sdk/client-codedeploy';
import { CreateClusterCommand, DSQLClient } from '@aws-sdk/client-dsql';
import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { CreateRoleCommand } from '@aws-sdk/client-iam';
import { CreateAliasCommand, CreateFunctionCommand, LambdaClient, PublishVersionCommand, UpdateAliasCommand } from '@aws-sdk/client-lambda';
import { TagResourceCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { BoundFunctionEntry, FunctionBundle } from '../../lib/contract';
import { SecretTag } from '../../lib/secret-tags';
import { CLI_BUNDLE, runCli } from '../cli/e2e-helpers';
import { startResponseEndpoint } from '../integration/first-rotation-runner';
import { sleep, startStack } from '../integration/harness';
import { CallRecorder } from '../support/call-recorder';
import { createCodeDeployService } from '../support/codedeploy-fixture';
import { startCodeDeployModel } from '../support/codedeploy-model';
import { attachLambdaModel } from '../support/lambda-model';
import { functionConfigEnv, LocalStack, newCredentials } from '../support/local-stack';
import { startRotateSecretInterceptor } from '../support/rotate-secret-interceptor';
import { rotateSecret } from '../support/rotation-service';
import { firstRotationInvocation, roleBootstrapInvocation, TemplateNames, watchdogConfig } from './flow-inputs';
import { ACCOUNT, ALIAS_NAME, CODE_DEPLOY, CUSTOM_ROLE, REGION } from './least-privilege-stack';

export type { TemplateNames } from './flow-inputs';

/** The physical ids of the run, for the template's logical ids. */
export interface RunResources {
  readonly secretArn: string;
  readonly keysSecretArn: string;
  readonly signerUserName: string;
  /** Web, Worker, then the CODE_DEPLOY service. */
  readonly serviceArns: string[];
  readonly dsqlClusterId: string;
  readonly plainFunctionArn: string;
  readonly aliasedFunctionArn: string;
}

/** The watchdog's rolloutAllowance for its heal run: longer than finishSecret takes to redeploy after promoting. */
const HEAL_ALLOWANCE_SECONDS = 3;

export const ROTATION_FUNCTION_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:least-privilege-rotation`;

type Step = (label: string, run: () => Promise<unknown>) => Promise<void>;

export interface RecordedRun {
  readonly resources: RunResources;
  readonly recorder: CallRecorder;
  /** Flows that failed (each still recorded what it called). */
  readonly failures: string[];
  /** How long each flow took, for the test's output. */
  readonly timings: string[];
}

/** Runs every flow and returns the calls recorded. */
export async function recordFlows(names: TemplateNames): Promise<RecordedRun> {
  const stack = await startStack({ services: 2, accessKeySigner: {}, taskSimulator: { startDelayMs: 20, drainMs: 20 } });
  const stoppers: Array<() => Promise<unknown>> = [() => stack.stop()];
  const secretNames = new Map<string, string>();
  const recorder = new CallRecorder({
    region: REGION,
    account: ACCOUNT,
    rotationFunctionArn: ROTATION_FUNCTION_ARN,
    secretArnOf: (id) => {
      const arn = id.startsWith('arn:') ? id : secretNames.get(id);
      if (arn === undefined) throw new Error(`SecretId ${id} is no secret of the run`);
      return arn;
    },
  });
  stoppers.push(() => recorder.stop());
  const failures: string[] = [];
  const timings: string[] = [];
  const startedAt = Date.now();
  try {
    // A SecretId may name a secret instead of giving its ARN (`<name>-<6 random characters>`).
    for (const arn of [stack.secretArn, stack.accessKeySigner!.keysSecretArn])
      secretNames.set(arn.split(':')[6].replace(/-[A-Za-z0-9]{6}$/, ''), arn);
    timings.push(`local stack: ${Date.now() - startedAt} ms`);
    const resources = await run(stack, names, recorder, { failures, timings }, stoppers);
    return { resources, recorder, failures, timings };
  } finally {
    for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
  }
}

async function run(
  stack: LocalStack,
  names: TemplateNames,
  recorder: CallRecorder,
  { failures, timings }: { failures: string[]; timings: string[] },
  stoppers: Array<() => Promise<unknown>>,
): Promise<RunResources> {
  const step: Step = async (label, fn) => {
    const started = Date.now();
    const out = await fn().catch((e: Error) => ({ ok: false, error: e }));
    timings.push(`${label}: ${Date.now() - started} ms`);
    const failed = out as { ok?: boolean; code?: number; error?: { message: string } };
    if (failed?.ok === false || (failed?.code !== undefined && failed.code !== 0)) {
      failures.push(`${label}: ${failed.error?.message ?? `exit code ${failed.code}`}`);
    }
  };
  const { sm, moto } = stack;
  const config = { boundServicesParameter: names.boundServicesParameter, boundFunctionsParameter: names.boundFunctionsParameter };
  await sm.send(
    new TagResourceCommand({
      SecretId: stack.secretArn,
      Tags: [
        { Key: SecretTag.MANAGED_BY, Value: 'LeastPrivilegeStack/DatabaseUrl' },
        { Key: SecretTag.BOUND_SERVICES_PARAMETER, Value: names.boundServicesParameter },
        { Key: SecretTag.ROTATION_INTERVAL_SECONDS, Value: String(4 * 3600) },
      ],
    }),
  );

  // A CODE_DEPLOY service beside the two rolling ones, its tasks run by the simulator too.
  const model = await startCodeDeployModel({ upstream: stack.proxy.endpoint, moto });
  stoppers.push(() => model.stop());
  const codedeploy = new CodeDeployClient({ ...moto.clientConfig(), endpoint: model.endpoint });
  const [web] = stack.serviceArns;
  const cluster = web.split('/')[1];
  const taskDefinition = (await stack.ecs.send(new DescribeServicesCommand({ cluster, services: [web] }))).services![0].taskDefinition!;
  const target = { application: CODE_DEPLOY.application, deploymentGroup: CODE_DEPLOY.deploymentGroup };
  const bg = await createCodeDeployService(stack.ecs, codedeploy, {
    cluster,
    serviceName: CODE_DEPLOY.service,
    taskDefinition,
    containerName: 'app',
    containerPort: 8080,
    target,
  });
  stack.tasks!.register(bg, { desiredCount: 1, taskDefinitionArn: taskDefinition });
  // CodeDeploy ends every deployment it is given (one active deployment per group at a time).
  const finisher = setInterval(() => {
    void codedeploy
      .send(new ListDeploymentsCommand({ applicationName: target.application, deploymentGroupName: target.deploymentGroup }))
      .then((out) => (out.deployments ?? []).forEach((id) => model.finish(id)))
      .catch(() => undefined);
  }, 200);
  stoppers.push(async () => clearInterval(finisher));
  const serviceArns = [...stack.serviceArns, bg];
  const put = (name: string, value: unknown) =>
    stack.ssm.send(new PutParameterCommand({ Name: name, Type: 'String', Value: JSON.stringify(value), Overwrite: true }));
  await put(names.boundServicesParameter, [...stack.serviceArns, { service: bg, codeDeploy: target }]);

  // Two bound functions in moto's Lambda (with the model of AWS's revision ids), one moved by an alias.
  const functions = attachLambdaModel(stack.proxy, moto);
  const lambda = new LambdaClient(moto.clientConfig());
  const roleArn = (await stack.iam.send(new CreateRoleCommand({ RoleName: 'app-fn', AssumeRolePolicyDocument: '{}' }))).Role!.Arn!;
  const fn = async (name: string) =>
    (
      await lambda.send(
        new CreateFunctionCommand({
          FunctionName: name,
          Runtime: 'nodejs22.x',
          Role: roleArn,
          Handler: 'index.handler',
          Code: { ZipFile: Buffer.from('PK\u0005\u0006' + '\u0000'.repeat(18), 'binary') },
          Environment: { Variables: { DATABASE_URL: 'postgres://placeholder' } },
        }),
      )
    ).FunctionArn!;
  const [plainFunctionArn, aliasedFunctionArn] = [await fn('app-plain'), await fn('app-aliased')];
  const v1 = (await lambda.send(new PublishVersionCommand({ FunctionName: 'app-aliased' }))).Version!;
  await lambda.send(new CreateAliasCommand({ FunctionName: 'app-aliased', Name: ALIAS_NAME, FunctionVersion: v1 }));
  const binding = (functionArn: string, alias: string | null): BoundFunctionEntry => ({
    functionArn,
    variable: 'DATABASE_URL',
    field: 'url',
    alias,
  });
  await put(names.boundFunctionsParameter, [binding(plainFunctionArn, null), binding(aliasedFunctionArn, ALIAS_NAME)]);
  const dsqlClusterId = (await new DSQLClient(moto.clientConfig()).send(new CreateClusterCommand({}))).identifier!;

  // Every caller's own key and a recording proxy in front of the endpoint it would use.
  const keys = { watchdog: newCredentials(), firstRotation: newCredentials(), cli: newCredentials() };
  recorder.identify(stack.signer.accessKeyId, 'rotation');
  recorder.identify(keys.watchdog.accessKeyId, 'watchdog');
  recorder.identify(keys.firstRotation.accessKeyId, 'first-rotation');
  recorder.identify(keys.cli.accessKeyId, 'cli');
  const clusterArn = `arn:aws:dsql:${REGION}:${ACCOUNT}:cluster/${dsqlClusterId}`;
  stack.endpoint.onAccepted = (user, keyId) => {
    const known = recorder.callerOf(keyId);
    // The signer user's keys are the ones the rotation function created in moto's IAM.
    const caller = known !== 'unknown' ? known : stack.knownCredentials.has(keyId) ? 'signer' : 'unknown';
    recorder.recordCheck(caller, user === 'admin' ? 'dsql:DbConnectAdmin' : 'dsql:DbConnect', clusterArn);
  };
  const handlers = await recorder.front(model.endpoint);
  const rotationStep = (s: Parameters<typeof stack.invokeStep>[0], token: string) =>
    stack.invokeStep(s, token, { env: { AWS_ENDPOINT_URL: handlers }, config });
  const interceptor = await startRotateSecretInterceptor({
    upstream: model.endpoint,
    sm,
    invokeStep: rotationStep,
    rollout: { durationMs: 300 },
  });
  stoppers.push(() => interceptor.stop());
  const rotating = await recorder.front(interceptor.endpoint);
  const keyEnv = (k: { accessKeyId: string; secretAccessKey: string }) => ({
    AWS_ACCESS_KEY_ID: k.accessKeyId,
    AWS_SECRET_ACCESS_KEY: k.secretAccessKey,
  });

  const responses = await startResponseEndpoint();
  stoppers.push(() => responses.stop());
  const firstRotation = (requestType: 'Create' | 'Delete') => {
    const { event, config: frConfig } = firstRotationInvocation(stack, requestType, responses.url, dsqlClusterId);
    const env = { ...functionConfigEnv(frConfig), AWS_ENDPOINT_URL: rotating, ...keyEnv(keys.firstRotation) };
    return stack.invokeFunction(FunctionBundle.INITIAL_ROTATION, event, { awsOnly: true, env, timeoutMs: 150_000 });
  };
  /** Through `endpoint`: the interceptor when it rotates; else straight to the task simulator's ECS (the interceptor rewrites rollouts). */
  const watchdog = (endpoint: string, rotateBeforeExpirySeconds: number, rolloutAllowanceSeconds = 0) => {
    const wd = watchdogConfig(stack, names, rotateBeforeExpirySeconds, rolloutAllowanceSeconds);
    const env = { ...functionConfigEnv(wd), AWS_ENDPOINT_URL: endpoint, ...keyEnv(keys.watchdog) };
    return stack.invokeFunction(
      FunctionBundle.WATCHDOG,
      { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} },
      { awsOnly: true, env },
    );
  };
  const cliDir = fs.mkdtempSync(path.join(os.tmpdir(), 'least-privilege-cli-'));
  stoppers.push(async () => fs.rmSync(cliDir, { recursive: true, force: true }));
  const cli = path.join(cliDir, 'index.js');
  fs.copyFileSync(CLI_BUNDLE, cli);
  const runCliWith = (args: string[]) =>
    runCli(cli, [...args, '--secret-id', stack.secretArn, '--endpoint-url', rotating], { env: keyEnv(keys.cli), timeoutMs: 90_000 });

  await step('first rotation (Create)', () => firstRotation('Create'));
  await interceptor.idle();
  // The role bootstrap (a custom role's stack) connects as admin with its own role's token, creates the role, grants it.
  const bootstrapKey = newCredentials();
  stack.knownCredentials.set(bootstrapKey.accessKeyId, bootstrapKey);
  stack.identityArns.set(bootstrapKey.accessKeyId, `arn:aws:iam::${ACCOUNT}:role/role-bootstrap`);
  recorder.identify(bootstrapKey.accessKeyId, 'role-bootstrap');
  const { event: bootstrapEvent, config: bootstrapConfig } = roleBootstrapInvocation(stack, responses.url, CUSTOM_ROLE);
  const bootstrapEnv = { ...functionConfigEnv(bootstrapConfig), AWS_ENDPOINT_URL: handlers, ...keyEnv(bootstrapKey) };
  await step('role bootstrap (Create)', () =>
    stack.invokeFunction(FunctionBundle.ROLE_BOOTSTRAP, bootstrapEvent, { awsOnly: true, env: bootstrapEnv }),
  );
  // One service's new tasks never start: after the rotation its old task holds the previous token.
  stack.tasks!.setStuck(stack.serviceArns[1], true);
  await step('scheduled rotation', () => rotateSecret({ sm, secretId: stack.secretArn, invokeStep: rotationStep }));
  // Both functions hold a stale value (one changed out of band, the other's alias moved back): the watchdog re-applies it.
  await functions.changeOutOfBand('app-plain', { DATABASE_URL: 'postgres://stale' });
  await lambda.send(new UpdateAliasCommand({ FunctionName: 'app-aliased', Name: ALIAS_NAME, FunctionVersion: v1 }));
  // Heals are due rolloutAllowance after the promotion, for services with no deployment since then.
  await sleep(HEAL_ALLOWANCE_SECONDS * 1000);
  await step('watchdog (fleet check and heal)', () => watchdog(handlers, 60, HEAL_ALLOWANCE_SECONDS));
  stack.tasks!.setStuck(stack.serviceArns[1], false);
  // More than the token's lifetime before expiry: the watchdog rotates (the interceptor plays RotateSecret).
  await step('watchdog (rotates)', () => watchdog(rotating, 9 * 3600));
  await interceptor.idle();
  await step('cli status', () => runCliWith(['status', '--json']));
  await step('cli rotate --wait', () => runCliWith(['rotate', '--wait', '--timeout', '60s', '--interval', '1s']));
  await interceptor.idle();
  await step('first rotation (Delete)', () => firstRotation('Delete'));
  await interceptor.idle();
  for (const r of interceptor.rotations) if (r.error) failures.push(`rotation ${r.versionId ?? '?'}: ${r.error.message}`);
  const a = stack.accessKeySigner!;
  return {
    secretArn: stack.secretArn,
    keysSecretArn: a.keysSecretArn,
    signerUserName: a.userName,
    serviceArns,
    dsqlClusterId,
    plainFunctionArn,
    aliasedFunctionArn,
  };
}
