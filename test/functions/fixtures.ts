/**
 * Small shared fixtures for the rotation handler's unit tests: constants, an
 * environment save/restore helper, error factories, a recording RetryPolicy and
 * tiny stateful fakes of Secrets Manager and ECS that sit behind
 * aws-sdk-client-mock stubs (so the commands sent can still be asserted).
 */
import { createHash, createHmac } from 'crypto';
import {
  DescribeServicesCommand, DescribeServicesCommandInput, ECSClient, Service, ServiceNotFoundException, UpdateServiceCommand,
  UpdateServiceCommandInput,
} from '@aws-sdk/client-ecs';
import {
  DescribeSecretCommand, DescribeSecretCommandOutput, GetSecretValueCommand, GetSecretValueCommandInput, PutSecretValueCommand,
  PutSecretValueCommandInput, ResourceNotFoundException, SecretsManagerClient, TagResourceCommand, TagResourceCommandInput,
  UntagResourceCommand, UntagResourceCommandInput, UpdateSecretVersionStageCommand, UpdateSecretVersionStageCommandInput,
} from '@aws-sdk/client-secrets-manager';
import {
  CreateAccessKeyCommand, CreateAccessKeyCommandInput, DeleteAccessKeyCommand, DeleteAccessKeyCommandInput, IAMClient, ListAccessKeysCommand,
  ListAccessKeysCommandInput, NoSuchEntityException,
} from '@aws-sdk/client-iam';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { DsqlSigner } from '@aws-sdk/dsql-signer';
import { AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { DsqlUrlSecretValue, HandlerEnv, SignerEnv } from '../../lib/contract';
import { PromotedTag } from '../../lib/secret-tags';
import { HandlerConfig } from '../../functions/config';
import { RetryPolicy } from '../../functions/retry';
import { buildSecretValue } from '../../functions/token';

export const REGION = 'us-east-1';
export const HOST = 'abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws';
export const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-url-AbCdEf';
/** The version being rotated in (ClientRequestToken). */
export const TOKEN = '11111111-2222-4333-8444-555555555555';
/** The version that is AWSCURRENT before the rotation. */
export const OLD_VERSION = '99999999-8888-4777-8666-555555555555';
/** Name of the SSM parameter that lists the bound services. */
export const BOUND_SERVICES_PARAMETER = '/cdk-dsql-url-secret/test/bound-services';

/** The access-key signer's IAM user and the secret holding its keys. */
export const SIGNER_USER = 'app-db-url-signer';
export const KEYS_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-url-signer-keys-XyZ123';

/** The environment of the rotation function with the access-key signer. */
export function accessKeySignerEnv(rolloutAllowanceSeconds = 1800): Record<string, string> {
  return {
    [SignerEnv.SIGNER]: 'access-key',
    [SignerEnv.SIGNER_USER_NAME]: SIGNER_USER,
    [SignerEnv.SIGNER_KEYS_SECRET_ARN]: KEYS_SECRET_ARN,
    [SignerEnv.ROLLOUT_ALLOWANCE_SECONDS]: String(rolloutAllowanceSeconds),
  };
}

/** Fake long-term-looking credentials; the secret and session token must never be logged. */
export const FAKE_CREDENTIALS = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN/abc+def==',
};

export function serviceArn(cluster: string, name: string): string {
  return `arn:aws:ecs:${REGION}:123456789012:service/${cluster}/${name}`;
}

/** A complete environment as the construct would set it, plus fake credentials for the signer. */
export function handlerEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    [HandlerEnv.HOST]: HOST,
    [HandlerEnv.PORT]: '5432',
    [HandlerEnv.REGION]: REGION,
    [HandlerEnv.DATABASE]: 'postgres',
    [HandlerEnv.USERNAME]: 'admin',
    [HandlerEnv.TOKEN_LIFETIME_SECONDS]: '43200',
    [HandlerEnv.URL_QUERY]: 'sslmode=require',
    [HandlerEnv.BOUND_SERVICES_PARAMETER]: BOUND_SERVICES_PARAMETER,
    [HandlerEnv.REDEPLOY_CONCURRENCY]: undefined,
    [HandlerEnv.CONNECT_TIMEOUT_SECONDS]: undefined,
    AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: FAKE_CREDENTIALS.sessionToken,
    AWS_CREDENTIAL_EXPIRATION: undefined,
    [SignerEnv.SIGNER]: undefined,
    [SignerEnv.SIGNER_USER_NAME]: undefined,
    [SignerEnv.SIGNER_KEYS_SECRET_ARN]: undefined,
    [SignerEnv.ROLLOUT_ALLOWANCE_SECONDS]: undefined,
    // With AWS_PROFILE set the SDK skips the environment credentials.
    AWS_PROFILE: undefined,
    AWS_REGION: REGION,
    ...overrides,
  };
}

/** Sets (or, for undefined, deletes) environment variables; returns a function that restores the old environment in place. */
export function setEnv(vars: Record<string, string | undefined>): () => void {
  const saved = { ...process.env };
  for (const [name, value] of Object.entries(vars)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return () => {
    for (const name of Object.keys(process.env)) {
      if (!(name in saved)) delete process.env[name];
    }
    Object.assign(process.env, saved);
  };
}

export function config(overrides: Partial<HandlerConfig> = {}): HandlerConfig {
  return {
    host: HOST,
    port: 5432,
    region: REGION,
    database: 'postgres',
    username: 'admin',
    tokenLifetimeSeconds: 43200,
    urlQuery: 'sslmode=require',
    boundServicesParameter: BOUND_SERVICES_PARAMETER,
    boundServicesParameterCount: 1,
    redeployConcurrency: 5,
    redeployStaggerMs: 0,
    connectTimeoutSeconds: 10,
    signer: { kind: 'role' },
    rolloutAllowanceSeconds: 0,
    ...overrides,
  };
}

/** Makes the bound-services parameter hold `arns` (or not exist, for undefined). */
export function boundServices(stub: AwsClientStub<SSMClient>, arns: readonly string[] | undefined): void {
  if (arns === undefined) {
    stub.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'Parameter not found', $metadata: {} }));
  } else {
    stub.on(GetParameterCommand, { Name: BOUND_SERVICES_PARAMETER })
      .resolves({ Parameter: { Name: BOUND_SERVICES_PARAMETER, Type: 'String', Value: JSON.stringify(arns) } });
  }
}

/** An error shaped like an AWS SDK service exception (name + $metadata). */
export function awsError(name: string, message = name, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), { name, $fault: httpStatusCode >= 500 ? 'server' : 'client', $metadata: { httpStatusCode } });
}

export const throttling = (): Error => awsError('ThrottlingException', 'Rate exceeded');

/** A RetryPolicy that records the delays it was asked to sleep instead of sleeping. */
export function recordingRetry(overrides: Partial<RetryPolicy> = {}): RetryPolicy & { readonly sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    maxAttempts: 4,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    random: () => 0.5,
    ...overrides,
    sleeps,
    sleep: async (ms) => { sleeps.push(ms); },
  };
}

export function describeSecretOutput(options: {
  stages?: Record<string, string[]>;
  tags?: Record<string, string>;
  rotationEnabled?: boolean;
} = {}): DescribeSecretCommandOutput {
  return {
    $metadata: {},
    ARN: SECRET_ARN,
    Name: 'app/db-url',
    RotationEnabled: options.rotationEnabled ?? true,
    VersionIdsToStages: options.stages ?? { [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] },
    Tags: Object.entries(options.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
  };
}

export function promotedTag(token: string, at: Date): Record<string, string> {
  return { [PromotedTag.key]: `${token} ${at.toISOString()}` };
}

export function activeService(arn: string, deploymentsCreatedAt: Date[] = [new Date('2020-01-01T00:00:00Z')]): Service {
  return { serviceArn: arn, status: 'ACTIVE', deployments: deploymentsCreatedAt.map((createdAt, i) => ({ id: `ecs-svc/${i}`, createdAt })) };
}

/**
 * A minimal stateful Secrets Manager: versions with stages and values, tags.
 * Behaves like the real service where it matters to the handler: GetSecretValue
 * of a stage-only version (no value yet) is ResourceNotFoundException, moving
 * AWSCURRENT labels the old version AWSPREVIOUS.
 */
export class FakeSecretsManager {
  rotationEnabled = true;
  readonly versions = new Map<string, { stages: string[]; value?: string }>();
  readonly tags = new Map<string, string>();

  constructor(currentValue = '{"url":"postgres://old"}') {
    this.versions.set(OLD_VERSION, { stages: ['AWSCURRENT'], value: currentValue });
    // What RotateSecret does before invoking the function: label the new version AWSPENDING.
    this.versions.set(TOKEN, { stages: ['AWSPENDING'] });
  }

  /** AWSCURRENT of the signer keys secret (KEYS_SECRET_ARN); undefined: no value. */
  keysValue: string | undefined = '{"keys":[]}';
  /** Lets a test make a PutSecretValue fail (checked before it is stored). */
  failPut: (input: PutSecretValueCommandInput) => Error | undefined = () => undefined;

  install(stub: AwsClientStub<SecretsManagerClient>): void {
    stub.on(DescribeSecretCommand).callsFake(() => this.describe());
    stub.on(GetSecretValueCommand).callsFake((input: GetSecretValueCommandInput) => {
      if (input.SecretId !== KEYS_SECRET_ARN) return this.getValue(input);
      if (this.keysValue === undefined || (input.VersionStage ?? 'AWSCURRENT') !== 'AWSCURRENT') {
        throw new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret value", $metadata: {} });
      }
      return { ARN: KEYS_SECRET_ARN, SecretString: this.keysValue };
    });
    stub.on(PutSecretValueCommand).callsFake((input: PutSecretValueCommandInput) => {
      const injected = this.failPut(input);
      if (injected !== undefined) throw injected;
      if (input.SecretId !== KEYS_SECRET_ARN) return this.putValue(input);
      this.keysValue = input.SecretString;
      return { ARN: KEYS_SECRET_ARN };
    });
    stub.on(UpdateSecretVersionStageCommand).callsFake((input: UpdateSecretVersionStageCommandInput) => this.moveStage(input));
    stub.on(TagResourceCommand).callsFake((input: TagResourceCommandInput) => {
      for (const t of input.Tags ?? []) this.tags.set(t.Key!, t.Value!);
      return {};
    });
    stub.on(UntagResourceCommand).callsFake((input: UntagResourceCommandInput) => {
      for (const k of input.TagKeys ?? []) this.tags.delete(k);
      return {};
    });
  }

  /** Sets a version's stages and value, moving each stage away from any other version. */
  setVersion(versionId: string, stages: string[], value?: DsqlUrlSecretValue | string): this {
    for (const stage of stages) this.removeStage(stage);
    this.versions.set(versionId, { stages: [...stages], value: typeof value === 'string' || value === undefined ? value : JSON.stringify(value) });
    return this;
  }

  stagesOf(versionId: string): string[] {
    return this.versions.get(versionId)?.stages ?? [];
  }

  private describe(): DescribeSecretCommandOutput {
    const stages: Record<string, string[]> = {};
    for (const [id, v] of this.versions) if (v.stages.length > 0) stages[id] = [...v.stages];
    return {
      $metadata: {},
      ARN: SECRET_ARN,
      RotationEnabled: this.rotationEnabled,
      VersionIdsToStages: stages,
      Tags: [...this.tags].map(([Key, Value]) => ({ Key, Value })),
    };
  }

  private getValue(input: GetSecretValueCommandInput) {
    // By stage alone: the version that carries it.
    const id = input.VersionId ?? [...this.versions].find(([, v]) => v.stages.includes(input.VersionStage ?? 'AWSCURRENT'))?.[0];
    const v = id === undefined ? undefined : this.versions.get(id);
    if (v === undefined || v.value === undefined || (input.VersionStage !== undefined && !v.stages.includes(input.VersionStage))) {
      throw new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret value", $metadata: {} });
    }
    return { ARN: SECRET_ARN, VersionId: id, SecretString: v.value, VersionStages: v.stages };
  }

  private putValue(input: PutSecretValueCommandInput) {
    const id = input.ClientRequestToken!;
    for (const stage of input.VersionStages ?? []) this.removeStage(stage);
    this.versions.set(id, { stages: [...(input.VersionStages ?? [])], value: input.SecretString });
    return { ARN: SECRET_ARN, VersionId: id };
  }

  private moveStage(input: UpdateSecretVersionStageCommandInput) {
    const stage = input.VersionStage!;
    const holder = [...this.versions].find(([, v]) => v.stages.includes(stage))?.[0];
    if (holder !== undefined && holder !== input.MoveToVersionId && holder !== input.RemoveFromVersionId) {
      throw Object.assign(new Error(`${stage} is attached to ${holder}; RemoveFromVersionId must name it`), { name: 'InvalidParameterException' });
    }
    this.removeStage(stage);
    this.versions.get(input.MoveToVersionId!)!.stages.push(stage);
    if (stage === 'AWSCURRENT' && holder !== undefined && holder !== input.MoveToVersionId) {
      this.removeStage('AWSPREVIOUS');
      this.versions.get(holder)!.stages.push('AWSPREVIOUS');
    }
    return { ARN: SECRET_ARN };
  }

  private removeStage(stage: string): void {
    for (const v of this.versions.values()) v.stages = v.stages.filter((s) => s !== stage);
  }
}

/**
 * A minimal stateful ECS: services with deployments. Like moto, a forced new
 * deployment replaces the deployment list with one created now. `failUpdate`
 * lets a test make UpdateService throw for chosen services.
 */
export class FakeEcs {
  readonly services = new Map<string, Service>();
  failUpdate: (serviceArn: string) => Error | undefined = () => undefined;

  add(...arns: string[]): this {
    for (const arn of arns) this.services.set(arn, activeService(arn));
    return this;
  }

  install(stub: AwsClientStub<ECSClient>): void {
    stub.on(DescribeServicesCommand).callsFake((input: DescribeServicesCommandInput) => {
      const services: Service[] = [];
      const failures: Array<{ arn: string; reason: string }> = [];
      for (const arn of input.services ?? []) {
        const s = this.services.get(arn);
        if (s !== undefined && arn.includes(`:service/${input.cluster}/`)) services.push(s);
        else failures.push({ arn, reason: 'MISSING' });
      }
      return { services, failures };
    });
    stub.on(UpdateServiceCommand).callsFake((input: UpdateServiceCommandInput) => {
      const arn = input.service!;
      const injected = this.failUpdate(arn);
      if (injected !== undefined) throw injected;
      const s = this.services.get(arn);
      if (s === undefined || !arn.includes(`:service/${input.cluster}/`)) {
        throw new ServiceNotFoundException({ message: 'Service not found.', $metadata: {} });
      }
      if (input.forceNewDeployment) s.deployments = [{ id: `ecs-svc/${Date.now()}`, createdAt: new Date() }];
      return { service: s };
    });
  }
}

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Recomputes the SigV4 query-string signature of a DSQL token with node:crypto
 * alone (independent of the SDK's signer) and reports whether it matches.
 */
export function presignedTokenIsValid(token: string, credentials: { secretAccessKey: string }, region: string): boolean {
  const slash = token.indexOf('/?');
  const host = token.slice(0, slash);
  const params = token.slice(slash + 2).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    return [decodeURIComponent(pair.slice(0, eq)), decodeURIComponent(pair.slice(eq + 1))] as [string, string];
  });
  const signature = params.find(([k]) => k === 'X-Amz-Signature')?.[1];
  const amzDate = params.find(([k]) => k === 'X-Amz-Date')?.[1];
  if (signature === undefined || amzDate === undefined) return false;
  const canonicalQuery = params
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [rfc3986(k), rfc3986(v)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
  const canonicalRequest = ['GET', '/', canonicalQuery, `host:${host}`, '', 'host', sha256('')].join('\n');
  const scope = `${amzDate.slice(0, 8)}/${region}/dsql/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
  let key = hmac(`AWS4${credentials.secretAccessKey}`, amzDate.slice(0, 8));
  for (const part of [region, 'dsql', 'aws4_request']) key = hmac(key, part);
  return createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex') === signature;
}

/** The query parameters of a DSQL token (`<host>/?Action=…&X-Amz-…`). */
export function tokenParams(token: string): URLSearchParams {
  return new URL(`https://${token}`).searchParams;
}

/** An access key as IAM returns it from CreateAccessKey. */
export interface FakeAccessKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

let fakeKeyCounter = 0;

/** A new, unique, realistic-looking access key (AKIA + 16 characters). */
export function newFakeAccessKey(): FakeAccessKey {
  fakeKeyCounter++;
  const n = String(fakeKeyCounter).padStart(4, '0');
  return { accessKeyId: `AKIAFAKEKEY00000${n}`, secretAccessKey: `fakeSecret/${n}+${'s'.repeat(28)}` };
}

/**
 * A minimal stateful IAM for one user's access keys: at most two keys, as IAM
 * allows (LimitExceededException beyond), NoSuchEntityException for unknown
 * keys or users. `failDelete` lets a test make DeleteAccessKey throw.
 */
export class FakeIam {
  readonly keys = new Map<string, FakeAccessKey>();
  readonly created: FakeAccessKey[] = [];
  failDelete: (accessKeyId: string) => Error | undefined = () => undefined;

  constructor(readonly userName: string = SIGNER_USER) {}

  add(...keys: FakeAccessKey[]): this {
    for (const k of keys) this.keys.set(k.accessKeyId, k);
    return this;
  }

  ids(): string[] {
    return [...this.keys.keys()].sort();
  }

  install(stub: AwsClientStub<IAMClient>): void {
    const noSuchEntity = (what: string) => new NoSuchEntityException({ message: `${what} cannot be found.`, $metadata: {} });
    stub.on(ListAccessKeysCommand).callsFake((input: ListAccessKeysCommandInput) => {
      if (input.UserName !== this.userName) throw noSuchEntity(`The user with name ${input.UserName}`);
      return {
        AccessKeyMetadata: [...this.keys.values()].map((k) => ({ UserName: this.userName, AccessKeyId: k.accessKeyId, Status: 'Active' })),
        IsTruncated: false,
      };
    });
    stub.on(DeleteAccessKeyCommand).callsFake((input: DeleteAccessKeyCommandInput) => {
      const injected = this.failDelete(input.AccessKeyId!);
      if (injected !== undefined) throw injected;
      if (input.UserName !== this.userName || !this.keys.has(input.AccessKeyId!)) {
        throw noSuchEntity(`The Access Key with id ${input.AccessKeyId}`);
      }
      this.keys.delete(input.AccessKeyId!);
      return {};
    });
    stub.on(CreateAccessKeyCommand).callsFake((input: CreateAccessKeyCommandInput) => {
      if (input.UserName !== this.userName) throw noSuchEntity(`The user with name ${input.UserName}`);
      if (this.keys.size >= 2) {
        throw Object.assign(new Error('Cannot exceed quota for AccessKeysPerUser: 2'), { name: 'LimitExceededException', $metadata: {} });
      }
      const key = newFakeAccessKey();
      this.keys.set(key.accessKeyId, key);
      this.created.push(key);
      return {
        AccessKey: {
          UserName: this.userName, AccessKeyId: key.accessKeyId, SecretAccessKey: key.secretAccessKey, Status: 'Active', CreateDate: new Date(),
        },
      };
    });
  }
}

/** A complete secret value whose token was signed with `key` (long-term: no session token). */
export async function valueSignedWith(key: FakeAccessKey, issuedAt: Date = new Date()): Promise<DsqlUrlSecretValue> {
  const signer = new DsqlSigner({ hostname: HOST, region: REGION, expiresIn: 43200, credentials: key });
  const token = await signer.getDbConnectAdminAuthToken();
  return buildSecretValue(config(), token, issuedAt, new Date(issuedAt.getTime() + 43200_000));
}

/** The construct's initial placeholder: every field present, url and password empty. */
export function placeholderValue(): Record<string, string> {
  return {
    url: '', host: HOST, port: '5432', username: 'admin', password: '', dbname: 'postgres', sslmode: 'require', issuedAt: '', expiresAt: '',
  };
}

/**
 * Mocks the Secrets Manager, ECS and SSM clients for one test file: reset and
 * the handler's environment set before each test, console.log silenced,
 * everything restored after. `beforeEachExtra` resets the file's own mocks.
 */
export function useMockedAws(beforeEachExtra: () => void = () => undefined) {
  const mocks = { smMock: mockClient(SecretsManagerClient), ecsMock: mockClient(ECSClient), ssmMock: mockClient(SSMClient) };
  let restoreEnv: () => void;
  beforeEach(() => {
    Object.values(mocks).forEach((m) => m.reset());
    beforeEachExtra();
    restoreEnv = setEnv(handlerEnv());
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    restoreEnv();
    jest.restoreAllMocks();
  });
  afterAll(() => Object.values(mocks).forEach((m) => m.restore()));
  return mocks;
}
