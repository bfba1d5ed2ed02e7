/**
 * A small stateful fake of ECS behind an aws-sdk-client-mock stub, and the
 * bound-services SSM parameter the rotation function reads.
 */
import {
  DescribeServicesCommand,
  DescribeServicesCommandInput,
  DescribeTasksCommand,
  DescribeTasksCommandInput,
  ECSClient,
  ListTasksCommand,
  ListTasksCommandInput,
  Service,
  Task,
  ServiceNotFoundException,
  UpdateServiceCommand,
  UpdateServiceCommandInput,
} from '@aws-sdk/client-ecs';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { AwsClientStub } from 'aws-sdk-client-mock';
import { BOUND_SERVICES_PARAMETER } from './fixtures';

/** Makes the bound-services parameter hold `arns` (or not exist, for undefined). */
export function boundServices(stub: AwsClientStub<SSMClient>, arns: readonly string[] | undefined): void {
  if (arns === undefined) {
    stub.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'Parameter not found', $metadata: {} }));
  } else {
    stub
      .on(GetParameterCommand, { Name: BOUND_SERVICES_PARAMETER })
      .resolves({ Parameter: { Name: BOUND_SERVICES_PARAMETER, Type: 'String', Value: JSON.stringify(arns) } });
  }
}

export function activeService(arn: string, deploymentsCreatedAt: Date[] = [new Date('2020-01-01T00:00:00Z')]): Service {
  return {
    serviceArn: arn,
    status: 'ACTIVE',
    deployments: deploymentsCreatedAt.map((createdAt, i) => ({ id: `ecs-svc/${i}`, createdAt })),
  };
}

/**
 * A minimal stateful ECS: services with deployments. Like moto, a forced new
 * deployment replaces the deployment list with one created now. `failUpdate`
 * lets a test make UpdateService throw for chosen services.
 */
export class FakeEcs {
  readonly services = new Map<string, Service>();
  /** Running tasks by service ARN (none unless a test adds some), for ListTasks and DescribeTasks. */
  readonly tasks = new Map<string, Task[]>();
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
    stub.on(ListTasksCommand).callsFake((input: ListTasksCommandInput) => {
      const tasks = this.tasks.get([...this.services.keys()].find((arn) => arn.endsWith(`/${input.cluster}/${input.serviceName}`)) ?? '');
      return { taskArns: (tasks ?? []).map((t) => t.taskArn!) };
    });
    stub.on(DescribeTasksCommand).callsFake((input: DescribeTasksCommandInput) => {
      const all = [...this.tasks.values()].flat();
      return { tasks: all.filter((t) => input.tasks?.includes(t.taskArn!)), failures: [] };
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
