/**
 * Everything a rotation needs, running locally: moto (Secrets Manager, ECS,
 * SSM, IAM) behind a fault proxy, PostgreSQL behind the DSQL-style endpoint, a
 * secret, ECS services that inject it, and the shipped handler bundle run in a
 * child process as Lambda would run it. Used by the integration tests and the
 * demo.
 */
import { randomBytes } from 'crypto';
import { ECSClient } from '@aws-sdk/client-ecs';
import { CreateUserCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import {
  ADMIN_ROLE_NAME,
  DsqlUrlSecretValue,
  FUNCTION_CONFIG_ENV,
  InitialRotationFunctionConfig,
  RoleBootstrapFunctionConfig,
  RotationFunctionConfig,
  SignerKeysValue,
  SignerKind,
  WatchdogFunctionConfig,
} from '../../lib/contract';
import { FunctionBundle, FunctionBundleName } from '../../lib/contract';
import { PLACEHOLDER_SECRET_VALUE } from '../../lib/configuration-change';
import { refuseWritesToDeletedSecrets } from './deleted-secret-guard';
import { createEcsFixture, deploymentsOf } from './ecs-fixture';
import { FaultProxy, startFaultProxy } from './fault-proxy';
import { functionBundle, FUNCTIONS_DIR } from './function-bundles';
import { invokeHandler, InvokeResult } from './lambda-runner';
import { grantRoleTo } from './local-admin-sql';
import { LocalDsqlEndpoint, startLocalDsqlEndpoint } from './local-dsql-endpoint';
import { MotoServer, startMoto } from './moto-server';
import { PostgresServer, startPostgres } from './postgres-server';
import { RotateSecretOptions, RotationResult, RotationStep, rotateSecret } from './rotation-service';
import { SigningCredentials } from './sigv4-presign-verify';
import { TaskSimulator, TaskSimulatorOptions } from './task-simulator';

const REGION = 'us-east-1';
/** The rotation function's watchdogIntervalSeconds here: the shortest its reader takes, so deferrals stay short. */
export const LOCAL_WATCHDOG_INTERVAL_SECONDS = 1;

export interface LocalStackOptions {
  /** ECS services per cluster (default 3). */
  readonly services?: number;
  /** ECS clusters (default 1). */
  readonly clusters?: number;
  /** Database role (default admin). */
  readonly username?: string;
  /**
   * For a custom `username`: create the role if missing and grant it to the signer (`signerArn`) at start,
   * as an admin would before a deploy (default true). false: the endpoint refuses the signer's tokens for
   * the role until something grants it (the role bootstrap, see roleBootstrapConfig).
   */
  readonly grantRoleToSigner?: boolean;
  readonly tokenLifetimeSeconds?: number;
  readonly log?: (line: string) => void;
  /**
   * Directory of the function bundles to run, `<name>/index.js` each (default FUNCTIONS_DIR, what
   * `npm run bundle` writes), e.g. a private copy taken when the test started (snapshotFunctionBundles).
   */
  readonly bundlesDir?: string;
  /**
   * Sign with the access-key signer (signer.kind access-key): an IAM user in moto and a keys secret are
   * created, and the endpoint accepts exactly the user's keys that exist in IAM (see syncSignerKeys).
   * Default: the role signer (the handler's own credentials, `signer`).
   */
  readonly accessKeySigner?: AccessKeySignerOptions;
  /**
   * Model running ECS tasks (moto runs none): the proxy answers ListTasks and DescribeTasks and rewrites
   * DescribeServices from `stack.tasks`, seeded with each created service's task, running since its
   * deployment (default off: moto's answers, unchanged).
   */
  readonly taskSimulator?: boolean | TaskSimulatorOptions;
}

export interface AccessKeySignerOptions {
  /** IAM user name (default `dsql-token-signer-<random>`). */
  readonly userName?: string;
  /**
   * rolloutAllowanceSeconds (default 0: rotations are never deferred and
   * the key guard never refuses, so back-to-back rotations rotate for real).
   */
  readonly rolloutAllowanceSeconds?: number;
}

/** The access-key signer's resources in moto. */
export interface LocalAccessKeySigner {
  readonly userName: string;
  readonly keysSecretArn: string;
  readonly rolloutAllowanceSeconds: number;
}

/** IAM-like credentials the handler signs with; the endpoint knows their secret. */
export interface LocalCredentials extends SigningCredentials {
  readonly accessKeyId: string;
}

export interface LocalStack {
  readonly moto: MotoServer;
  readonly proxy: FaultProxy;
  readonly postgres: PostgresServer;
  readonly endpoint: LocalDsqlEndpoint;
  readonly sm: SecretsManagerClient;
  readonly ecs: ECSClient;
  readonly ssm: SSMClient;
  readonly iam: IAMClient;
  readonly secretArn: string;
  readonly serviceArns: string[];
  readonly parameterName: string;
  /** The first bound-functions parameter: not created here (no function is bound until a test binds one). */
  readonly functionsParameterName: string;
  /** The model of running tasks behind the proxy's ECS answers; set with the `taskSimulator` option. */
  readonly tasks?: TaskSimulator;
  /** The credentials the handler signs with (replace to simulate a new session). */
  signer: LocalCredentials;
  /** Credentials the endpoint accepts, by access key id (delete one to revoke it). */
  readonly knownCredentials: Map<string, SigningCredentials>;
  /**
   * The IAM identity (role or user ARN) of access keys other than the signer's, e.g. the role bootstrap's
   * own role. The endpoint maps a custom role's tokens to their signer through it: a key not listed is the
   * signer user's (access-key signer) or else a session of the rotation function's role (ROTATION_ROLE_ARN).
   */
  readonly identityArns: Map<string, string>;
  /** The identity that signs the URL's tokens: the signer user's ARN, or ROTATION_ROLE_ARN. */
  readonly signerArn: string;
  /** The role bootstrap's configuration, as the construct would write it for this stack, with `overrides`. */
  roleBootstrapConfig(overrides?: Partial<RoleBootstrapFunctionConfig>): RoleBootstrapFunctionConfig;
  /** Set when started with `accessKeySigner`. */
  readonly accessKeySigner?: LocalAccessKeySigner;
  /**
   * Access-key signer only (a no-op otherwise): makes `knownCredentials` hold exactly the signer user's
   * keys that exist in moto IAM right now, with the secret part the keys secret stores, so a key deleted
   * in IAM stops authenticating. Runs before and after every handler invocation; call it yourself after
   * changing IAM directly. Other entries (e.g. `signer`) are left alone.
   */
  syncSignerKeys(): Promise<void>;
  /** Everything the handler printed, per invocation. */
  readonly handlerLogs: string[];
  /** The rotation function's configuration, as the construct would write it for this stack, with `overrides`. */
  rotationConfig(overrides?: Partial<RotationFunctionConfig>): RotationFunctionConfig;
  /** The rotation function's environment: rotationConfig(config) in FUNCTION_CONFIG_ENV, AWS settings, then `extra`. */
  handlerEnv(extra?: Record<string, string>, config?: Partial<RotationFunctionConfig>): Record<string, string>;
  /** Runs one step of the shipped handler in a child process; throws what the handler threw. */
  invokeStep(step: RotationStep, token: string, opts?: InvokeStepOptions): Promise<void>;
  /**
   * Runs a function's bundle (e.g. `watchdog`), its HANDLER_EXPORT as Lambda does, in a child process with `handlerEnv(env)`, or
   * with `awsOnly`, with only its AWS settings (credentials, region, endpoint, CA) plus `env`: what a
   * function other than the rotation function is given. Its logs go to `handlerLogs`. Returns the
   * outcome rather than throwing.
   */
  invokeFunction(fn: FunctionBundleName, event: unknown, opts?: InvokeFunctionOptions): Promise<InvokeResult>;
  rotate(opts?: Partial<RotateSecretOptions>): Promise<RotationResult>;
  readStage(stage: 'AWSCURRENT' | 'AWSPENDING' | 'AWSPREVIOUS'): Promise<DsqlUrlSecretValue>;
  stop(): Promise<void>;
}

export interface InvokeStepOptions {
  readonly timeoutMs?: number;
  readonly env?: Record<string, string>;
  /** Changes to the rotation function's configuration for this invocation, e.g. `{ port }`. */
  readonly config?: Partial<RotationFunctionConfig>;
}

export interface InvokeFunctionOptions extends InvokeStepOptions {
  /** Start from handlerEnv's AWS_* variables and NODE_EXTRA_CA_CERTS only, not the rotation function's settings. */
  readonly awsOnly?: boolean;
}

/** A function's environment variable carrying its configuration, e.g. for invokeFunction's `env` with `awsOnly`. */
export function functionConfigEnv(
  config: RotationFunctionConfig | WatchdogFunctionConfig | InitialRotationFunctionConfig | RoleBootstrapFunctionConfig,
): Record<string, string> {
  return { [FUNCTION_CONFIG_ENV]: JSON.stringify(config) };
}

/** The IAM role whose sessions (the handler's credentials, `signer`) sign with the role signer. */
export const ROTATION_ROLE_ARN = 'arn:aws:iam::123456789012:role/local-rotation-function-role';

export function newCredentials(): LocalCredentials {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const id = Array.from(randomBytes(16), (b) => alphabet[b % alphabet.length]).join('');
  return { accessKeyId: `AKIA${id}`, secretAccessKey: randomBytes(30).toString('base64') };
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const log = opts.log ?? (() => undefined);
  const stoppers: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stoppers.reverse()) await s().catch(() => undefined);
  };
  try {
    const [moto, postgres] = await Promise.all([startMoto(), startPostgres()]);
    stoppers.push(
      () => moto.stop(),
      () => postgres.stop(),
    );
    const proxy = await startFaultProxy(moto.endpoint);
    stoppers.push(() => proxy.stop());
    // AWS refuses writes to a secret scheduled for deletion; moto lets two of them through.
    proxy.guard = refuseWritesToDeletedSecrets(new SecretsManagerClient(moto.clientConfig()));
    const knownCredentials = new Map<string, SigningCredentials>();
    const identityArns = new Map<string, string>();
    let signerUserArn: string | undefined;
    const endpoint = await startLocalDsqlEndpoint({
      region: REGION,
      backend: postgres,
      credentials: (id) => knownCredentials.get(id),
      identities: (id) =>
        identityArns.get(id) ?? (syncedKeyIds.has(id) ? signerUserArn : knownCredentials.has(id) ? ROTATION_ROLE_ARN : undefined),
    });
    stoppers.push(() => endpoint.stop());
    log(`started moto at ${moto.endpoint}, PostgreSQL on port ${postgres.port}, DSQL-style endpoint at ${endpoint.host}:${endpoint.port}`);

    const clientConfig = moto.clientConfig();
    const sm = new SecretsManagerClient(clientConfig);
    const ecs = new ECSClient(clientConfig);
    const ssm = new SSMClient(clientConfig);
    const iam = new IAMClient(clientConfig);
    const username = opts.username ?? 'admin';
    const created = await sm.send(
      new CreateSecretCommand({
        Name: `demo/database-url-${randomBytes(3).toString('hex')}`,
        // The construct's placeholder: no token exists before the first rotation (the same whatever the configuration).
        SecretString: JSON.stringify(PLACEHOLDER_SECRET_VALUE),
      }),
    );
    const secretArn = created.ARN!;
    const serviceArns: string[] = [];
    const simulatorOptions: TaskSimulatorOptions | undefined = opts.taskSimulator === true ? {} : opts.taskSimulator || undefined;
    const tasks = simulatorOptions && new TaskSimulator(simulatorOptions);
    for (let c = 0; c < (opts.clusters ?? 1); c++) {
      const fixture = await createEcsFixture(ecs, { clusterName: `app-cluster-${c + 1}`, services: opts.services ?? 3, secretArn });
      serviceArns.push(...fixture.serviceArns);
      if (tasks === undefined) continue;
      // The fixture's services run desiredCount 1; their task started with moto's deployment (or at the clock's now, if earlier).
      const clock = simulatorOptions?.now ?? Date.now;
      for (const [arn, [deployment]] of await deploymentsOf(ecs, fixture.serviceArns)) {
        const createdAt = Math.min(clock(), deployment.createdAt.getTime());
        tasks.register(arn, { desiredCount: 1, taskDefinitionArn: fixture.taskDefinitionArn, deploymentId: deployment.id, createdAt });
      }
    }
    tasks?.attach(proxy);
    const parameterName = `/cdk-dsql-url-secret/local/${randomBytes(3).toString('hex')}/bound-services`;
    await ssm.send(new PutParameterCommand({ Name: parameterName, Type: 'String', Value: JSON.stringify(serviceArns) }));
    const functionsParameterName = parameterName.replace(/bound-services$/, 'bound-functions');
    log(`created secret ${secretArn.split(':').pop()} and ${serviceArns.length} ECS services that inject it`);

    let accessKeySigner: LocalAccessKeySigner | undefined;
    if (opts.accessKeySigner !== undefined) {
      const userName = opts.accessKeySigner.userName ?? `dsql-token-signer-${randomBytes(3).toString('hex')}`;
      signerUserArn = (await iam.send(new CreateUserCommand({ UserName: userName }))).User!.Arn!;
      // What the construct creates (lib/managed-access-key.ts): no key yet.
      const keys = await sm.send(
        new CreateSecretCommand({
          Name: `demo/signer-keys-${randomBytes(3).toString('hex')}`,
          SecretString: JSON.stringify({ keys: [] }),
        }),
      );
      accessKeySigner = { userName, keysSecretArn: keys.ARN!, rolloutAllowanceSeconds: opts.accessKeySigner.rolloutAllowanceSeconds ?? 0 };
      log(`created IAM user ${userName} and its keys secret: tokens are signed with its access keys`);
    }
    // Access key ids syncSignerKeys put into knownCredentials (so it removes only those).
    const syncedKeyIds = new Set<string>();
    const syncSignerKeys = async () => {
      if (accessKeySigner === undefined) return;
      const listed = await iam.send(new ListAccessKeysCommand({ UserName: accessKeySigner.userName }));
      const inIam = new Set((listed.AccessKeyMetadata ?? []).map((k) => k.AccessKeyId!));
      const out = await sm.send(new GetSecretValueCommand({ SecretId: accessKeySigner.keysSecretArn, VersionStage: 'AWSCURRENT' }));
      const stored = (JSON.parse(out.SecretString ?? '{}') as Partial<SignerKeysValue>).keys ?? [];
      for (const id of syncedKeyIds) {
        if (!inIam.has(id)) {
          knownCredentials.delete(id);
          syncedKeyIds.delete(id);
        }
      }
      // A key in IAM that the keys secret does not hold has no known secret part here: not accepted.
      for (const key of stored) {
        if (!inIam.has(key.accessKeyId)) continue;
        knownCredentials.set(key.accessKeyId, { secretAccessKey: key.secretAccessKey });
        syncedKeyIds.add(key.accessKeyId);
      }
    };

    const stack: LocalStack = {
      moto,
      proxy,
      postgres,
      endpoint,
      sm,
      ecs,
      ssm,
      iam,
      secretArn,
      serviceArns,
      parameterName,
      functionsParameterName,
      tasks,
      knownCredentials,
      identityArns,
      signerArn: signerUserArn ?? ROTATION_ROLE_ARN,
      roleBootstrapConfig: (overrides = {}) => ({
        host: endpoint.host,
        port: endpoint.port,
        region: REGION,
        database: 'postgres',
        roleName: username,
        signerArn: signerUserArn ?? ROTATION_ROLE_ARN,
        grants: [],
        connectTimeoutSeconds: 5,
        ...overrides,
      }),
      accessKeySigner,
      syncSignerKeys,
      signer: newCredentials(),
      handlerLogs: [],
      rotationConfig: (overrides = {}) => ({
        host: endpoint.host,
        port: endpoint.port,
        region: REGION,
        database: 'postgres',
        username,
        tokenLifetimeSeconds: opts.tokenLifetimeSeconds ?? 8 * 3600,
        urlQuery: 'sslmode=require',
        boundServicesParameter: parameterName,
        boundServicesParameterCount: 1,
        boundFunctionsParameter: functionsParameterName,
        boundFunctionsParameterCount: 1,
        redeployConcurrency: 5,
        redeployStaggerMs: 0,
        // The secret's name: what the rotation function's metrics used here before the construct always set one.
        metricDimension: created.Name!,
        connectTimeoutSeconds: 5,
        signer: accessKeySigner
          ? { kind: SignerKind.ACCESS_KEY, userName: accessKeySigner.userName, keysSecretArn: accessKeySigner.keysSecretArn }
          : { kind: SignerKind.ROLE },
        // 0 for the role signer: the demo's and tests' back-to-back rotations are never deferred.
        rolloutAllowanceSeconds: accessKeySigner?.rolloutAllowanceSeconds ?? 0,
        // With rolloutAllowance, rotations are deferred for 2 x it + this.
        watchdogIntervalSeconds: LOCAL_WATCHDOG_INTERVAL_SECONDS,
        ...overrides,
      }),
      handlerEnv: (extra = {}, config = {}) => ({
        ...functionConfigEnv(stack.rotationConfig(config)),
        AWS_REGION: REGION,
        AWS_ACCESS_KEY_ID: stack.signer.accessKeyId,
        AWS_SECRET_ACCESS_KEY: stack.signer.secretAccessKey,
        ...(stack.signer.sessionToken ? { AWS_SESSION_TOKEN: stack.signer.sessionToken } : {}),
        ...(stack.signer.expiresAt ? { AWS_CREDENTIAL_EXPIRATION: stack.signer.expiresAt.toISOString() } : {}),
        AWS_ENDPOINT_URL: proxy.endpoint,
        // The endpoint's certificate comes from a throwaway CA; real DSQL chains to public roots.
        NODE_EXTRA_CA_CERTS: endpoint.caFile,
        ...extra,
      }),
      invokeFunction: async (fn, event, invokeOpts = {}) => {
        await syncSignerKeys();
        try {
          const all = stack.handlerEnv();
          const env = invokeOpts.awsOnly
            ? {
                ...Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith('AWS_') || k === 'NODE_EXTRA_CA_CERTS')),
                ...invokeOpts.env,
              }
            : stack.handlerEnv(invokeOpts.env, invokeOpts.config);
          const result = await invokeHandler({
            bundle: functionBundle(fn, opts.bundlesDir ?? FUNCTIONS_DIR),
            env,
            event,
            timeoutMs: invokeOpts.timeoutMs ?? 60_000,
          });
          stack.handlerLogs.push(result.logs);
          return result;
        } finally {
          // The handler may have created or deleted keys (createSecret with the access-key signer).
          await syncSignerKeys();
        }
      },
      invokeStep: async (step, token, invokeOpts = {}) => {
        const result = await stack.invokeFunction(
          FunctionBundle.ROTATION,
          { Step: step, SecretId: secretArn, ClientRequestToken: token },
          invokeOpts,
        );
        if (!result.ok) throw Object.assign(new Error(result.error.message), { name: result.error.name });
      },
      rotate: (rotateOpts = {}) => rotateSecret({ sm, secretId: secretArn, invokeStep: stack.invokeStep, ...rotateOpts }),
      readStage: async (stage) => {
        const out = await sm.send(new GetSecretValueCommand({ SecretId: secretArn, VersionStage: stage }));
        return JSON.parse(out.SecretString!) as DsqlUrlSecretValue;
      },
      stop,
    };
    knownCredentials.set(stack.signer.accessKeyId, stack.signer);
    if (username !== ADMIN_ROLE_NAME && opts.grantRoleToSigner !== false) {
      await grantRoleTo({ endpoint, region: REGION, knownCredentials, identityArns }, username, stack.signerArn);
      log(`granted role ${username} to ${stack.signerArn}, as an admin would before a deploy`);
    }
    return stack;
  } catch (err) {
    await stop();
    throw err;
  }
}
