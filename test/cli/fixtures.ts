/**
 * A small, mutable fake of the AWS state the CLI reads (aws-sdk-client-mock underneath), and
 * capturing streams. Unit tests change the state between polls through the fake sleep.
 */
import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { DeferredTag, PromotedTag, SecretTag } from '../../lib/secret-tags';
import { createClients } from '../../cli/aws';
import { OutStream } from '../../cli/render';

export const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/database-url-AbCdEf';
export const SECRET_NAME = 'app/database-url';
export const PARAMETER = '/cdk-dsql-url-secret/AppStackDatabaseUrl/bound-services';
export const FUNCTION_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:AppStack-RotationFunction';
/** The rotation function's own log group, named by CloudFormation (`<stack>-<logical id>-<suffix>`). */
export const LOG_GROUP = 'AppStack-DatabaseUrlRotationFunctionLogGroup5A3C1F2E-Xy9AbCdEf012';
export const OLD_VERSION = '11111111-aaaa-4aaa-8aaa-000000000001';
export const NEW_VERSION = '22222222-bbbb-4bbb-8bbb-000000000002';
export const T0 = Date.parse('2030-06-01T12:00:00.000Z');

export const serviceArn = (cluster: string, name: string) => `arn:aws:ecs:eu-west-1:123456789012:service/${cluster}/${name}`;

/** A realistic token: what must never be printed. */
export const TOKEN =
  'abc.dsql.eu-west-1.on.aws/?Action=DbConnectAdmin&X-Amz-Algorithm=AWS4-HMAC-SHA256' +
  '&X-Amz-Credential=ASIAQX4EXAMPLEKEY123%2F20300601%2Feu-west-1%2Fdsql%2Faws4_request&X-Amz-Date=20300601T120000Z' +
  '&X-Amz-Expires=28800&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE&X-Amz-SignedHeaders=host&X-Amz-Signature=deadbeef';

export function secretValue(expiresAt: string, token = TOKEN): string {
  return JSON.stringify({
    url: `postgres://admin:${encodeURIComponent(token)}@abc.dsql.eu-west-1.on.aws:5432/postgres?sslmode=require`,
    host: 'abc.dsql.eu-west-1.on.aws',
    port: 5432,
    username: 'admin',
    password: token,
    dbname: 'postgres',
    sslmode: 'require',
    issuedAt: new Date(Date.parse(expiresAt) - 8 * 3600_000).toISOString(),
    expiresAt,
  });
}

export interface FakeDeployment {
  id: string;
  status: string;
  createdAt: Date;
  runningCount: number;
  desiredCount: number;
  pendingCount?: number;
  rolloutState?: string;
  rolloutStateReason?: string;
}

export interface FakeState {
  stages: Record<string, string[]>;
  tags: Record<string, string>;
  rotationEnabled: boolean;
  nextRotationDate?: Date;
  lastRotatedDate?: Date;
  /** SecretString per version id. */
  values: Record<string, string>;
  /** undefined: the parameter does not exist. */
  parameter?: string;
  services: Map<string, { status: string; deployments: FakeDeployment[] } | undefined>;
  /** Running tasks' createdAt by service ARN, for ListTasks and DescribeTasks (none unless a test sets them). */
  tasks: Map<string, Array<Date | undefined>>;
  /** The rotation function's LoggingConfig.LogGroup; undefined: its configuration names none. */
  logGroup?: string;
  /** Errors to throw, by operation name. */
  errors: Partial<
    Record<
      'DescribeSecret' | 'GetSecretValue' | 'RotateSecret' | 'GetParameter' | 'DescribeServices' | 'ListTasks' | 'GetFunctionConfiguration',
      Error
    >
  >;
  /** Calls seen, by operation name. */
  calls: string[];
  /** What RotateSecret does (default: stage NEW_VERSION as AWSPENDING). */
  onRotate?: () => void;
}

export function awsError(name: string, message = name, status = 400): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

export function managedTags(extra: Record<string, string> = {}): Record<string, string> {
  return {
    [SecretTag.MANAGED_BY]: 'AppStack/DatabaseUrl',
    [SecretTag.BOUND_SERVICES_PARAMETER]: PARAMETER,
    [SecretTag.ROTATION_INTERVAL_SECONDS]: String(4 * 3600),
    ...extra,
  };
}

export function deployment(id: string, createdAt: number, rest: Partial<FakeDeployment> = {}): FakeDeployment {
  return {
    id,
    status: 'PRIMARY',
    createdAt: new Date(createdAt),
    runningCount: 2,
    desiredCount: 2,
    pendingCount: 0,
    rolloutState: 'COMPLETED',
    ...rest,
  };
}

export class FakeAws {
  readonly sm = mockClient(SecretsManagerClient);
  readonly ssm = mockClient(SSMClient);
  readonly ecs = mockClient(ECSClient);
  readonly lambda = mockClient(LambdaClient);
  state!: FakeState;

  constructor() {
    this.reset();
  }

  reset(services: string[] = [serviceArn('main', 'web'), serviceArn('main', 'worker')]): void {
    this.sm.reset();
    this.ssm.reset();
    this.ecs.reset();
    this.lambda.reset();
    this.state = {
      stages: { [OLD_VERSION]: ['AWSCURRENT'] },
      tags: managedTags({ [PromotedTag.key]: `${OLD_VERSION} ${new Date(T0 - 3600_000).toISOString()}` }),
      rotationEnabled: true,
      values: { [OLD_VERSION]: secretValue(new Date(T0 + 7 * 3600_000).toISOString()) },
      parameter: JSON.stringify(services),
      services: new Map(
        services.map((arn, i) => [arn, { status: 'ACTIVE', deployments: [deployment(`ecs-svc/old-${i}`, T0 - 3600_000)] }]),
      ),
      tasks: new Map(),
      logGroup: LOG_GROUP,
      errors: {},
      calls: [],
    };
    const s = () => this.state;
    const fail = (op: keyof FakeState['errors']) => {
      s().calls.push(op);
      const err = s().errors[op];
      if (err) throw err;
    };
    this.sm.on(DescribeSecretCommand).callsFake(() => {
      fail('DescribeSecret');
      return {
        ARN: SECRET_ARN,
        Name: SECRET_NAME,
        RotationEnabled: s().rotationEnabled,
        RotationLambdaARN: FUNCTION_ARN,
        NextRotationDate: s().nextRotationDate,
        LastRotatedDate: s().lastRotatedDate,
        VersionIdsToStages: structuredClone(s().stages),
        Tags: Object.entries(s().tags).map(([Key, Value]) => ({ Key, Value })),
      };
    });
    this.sm.on(GetSecretValueCommand).callsFake((input: { VersionStage?: string; VersionId?: string }) => {
      fail('GetSecretValue');
      if (input.VersionStage === undefined) throw new Error('the CLI must always pass VersionStage');
      const id = Object.entries(s().stages).find(([, l]) => l.includes(input.VersionStage!))?.[0];
      if (!id) throw awsError('ResourceNotFoundException');
      return { ARN: SECRET_ARN, VersionId: id, SecretString: s().values[id] };
    });
    this.sm.on(ListSecretVersionIdsCommand).callsFake(() => ({
      Versions: Object.keys(s().stages).map((VersionId) => ({ VersionId, CreatedDate: new Date(T0 - 600_000) })),
    }));
    this.sm.on(RotateSecretCommand).callsFake(() => {
      fail('RotateSecret');
      if (s().onRotate) s().onRotate!();
      else s().stages[NEW_VERSION] = ['AWSPENDING'];
      return { ARN: SECRET_ARN, Name: SECRET_NAME, VersionId: NEW_VERSION };
    });
    this.ssm.on(GetParameterCommand).callsFake((input: { Name: string }) => {
      fail('GetParameter');
      // One parameter: the CLI also probes `<name>-2` for a second chunk of 30 services.
      if (s().parameter === undefined || input.Name !== PARAMETER) throw awsError('ParameterNotFound');
      return { Parameter: { Name: PARAMETER, Value: s().parameter } };
    });
    this.ecs.on(DescribeServicesCommand).callsFake((input: { cluster: string; services: string[] }) => {
      fail('DescribeServices');
      if (input.services.length > 10) throw awsError('InvalidParameterException', 'at most 10 services');
      const services = [];
      const failures = [];
      for (const arn of input.services) {
        if (!arn.includes(`:service/${input.cluster}/`)) throw new Error(`service ${arn} asked in cluster ${input.cluster}`);
        const svc = s().services.get(arn);
        if (svc === undefined) failures.push({ arn, reason: 'MISSING' });
        else
          services.push({
            serviceArn: arn,
            serviceName: arn.split('/').pop(),
            status: svc.status,
            runningCount: svc.deployments.reduce((n, d) => n + d.runningCount, 0),
            deployments: structuredClone(svc.deployments),
          });
      }
      return { services, failures };
    });
    this.lambda.on(GetFunctionConfigurationCommand).callsFake((input: { FunctionName: string }) => {
      fail('GetFunctionConfiguration');
      if (input.FunctionName !== FUNCTION_ARN) throw awsError('ResourceNotFoundException');
      return { FunctionArn: FUNCTION_ARN, LoggingConfig: s().logGroup ? { LogFormat: 'JSON', LogGroup: s().logGroup } : undefined };
    });
    this.installTasks(fail);
  }

  /** A stub for ListTasks and DescribeTasks over state.tasks (task ARNs `<service ARN>/task-<i>`). */
  private installTasks(fail: (op: 'ListTasks') => void): void {
    const s = () => this.state;
    this.ecs.on(ListTasksCommand).callsFake((input: { cluster: string; serviceName: string }) => {
      fail('ListTasks');
      const arn = [...s().tasks.keys()].find((a) => a.endsWith(`:service/${input.cluster}/${input.serviceName}`));
      return {
        taskArns:
          arn === undefined
            ? []
            : s()
                .tasks.get(arn)!
                .map((_, i) => `${arn}/task-${i}`),
      };
    });
    this.ecs.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({
      tasks: input.tasks.map((taskArn) => {
        const [, arn, i] = /^(.*)\/task-(\d+)$/.exec(taskArn)!;
        return { taskArn, lastStatus: 'RUNNING', createdAt: s().tasks.get(arn)![Number(i)] };
      }),
    }));
  }

  /** Moves AWSCURRENT to NEW_VERSION, as finishSecret does, and records the promoted tag. */
  promote(at: number, expiresAt = new Date(at + 8 * 3600_000).toISOString()): void {
    this.state.stages = { [OLD_VERSION]: ['AWSPREVIOUS'], [NEW_VERSION]: ['AWSCURRENT', 'AWSPENDING'] };
    this.state.values[NEW_VERSION] = secretValue(expiresAt);
    this.state.tags[PromotedTag.key] = `${NEW_VERSION} ${new Date(at).toISOString()}`;
  }

  /** What a deferred rotation leaves: the same value under NEW_VERSION, no promoted tag for it, the deferred tag. */
  promoteDeferred(until: number): void {
    this.state.stages = { [OLD_VERSION]: ['AWSPREVIOUS'], [NEW_VERSION]: ['AWSCURRENT', 'AWSPENDING'] };
    this.state.values[NEW_VERSION] = this.state.values[OLD_VERSION];
    this.state.tags[DeferredTag.key] = `${NEW_VERSION} ${new Date(until).toISOString()}`;
  }

  /** Gives a service a new PRIMARY deployment, as UpdateService(forceNewDeployment) does. */
  redeploy(arn: string, id: string, at: number, rest: Partial<FakeDeployment> = {}): void {
    const svc = this.state.services.get(arn)!;
    const old = svc.deployments.find((d) => d.status === 'PRIMARY')!;
    svc.deployments = [
      deployment(id, at, { runningCount: 0, pendingCount: 2, rolloutState: 'IN_PROGRESS', ...rest }),
      { ...old, status: 'ACTIVE' },
    ];
  }

  /** Ends a service's rollout: only the new deployment is left, all tasks running. */
  complete(arn: string, rest: Partial<FakeDeployment> = {}): void {
    const svc = this.state.services.get(arn)!;
    const primary = svc.deployments.find((d) => d.status === 'PRIMARY')!;
    svc.deployments = [{ ...primary, runningCount: primary.desiredCount, pendingCount: 0, rolloutState: 'COMPLETED', ...rest }];
  }

  restore(): void {
    this.sm.restore();
    this.ssm.restore();
    this.ecs.restore();
    this.lambda.restore();
  }
}

export function testClients() {
  return createClients({ region: 'eu-west-1' });
}

/** A stream that keeps what was written. */
export class Capture implements OutStream {
  text = '';
  constructor(
    readonly isTTY = false,
    readonly columns?: number,
  ) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

/** A clock that only moves when the code under test sleeps; `onSleep` changes the world between polls. */
export function fakeTime(onSleep: (now: number, polls: number) => void = () => undefined) {
  let now = T0;
  let polls = 0;
  return {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
      polls++;
      onSleep(now, polls);
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
}
