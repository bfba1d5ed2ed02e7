/**
 * A minimal stateful Lambda for the bound-functions tests: $LATEST with its
 * variables, revision id and LastUpdateStatus, published versions and
 * aliases. Behaves like Lambda where it matters to the update: a stale
 * RevisionId is PreconditionFailedException, a write while an update is in
 * progress is ResourceConflictException, an update reports InProgress for a
 * few reads, the variables object is limited to 4096 bytes of JSON (Lambda's
 * message quotes it), and PublishVersion publishes nothing new when $LATEST
 * is unchanged since the last version.
 */
import { randomUUID } from 'crypto';
import {
  GetAliasCommand,
  GetAliasCommandInput,
  GetFunctionConfigurationCommand,
  GetFunctionConfigurationCommandInput,
  LambdaClient,
  PublishVersionCommand,
  PublishVersionCommandInput,
  UpdateAliasCommand,
  UpdateAliasCommandInput,
  UpdateFunctionConfigurationCommand,
  UpdateFunctionConfigurationCommandInput,
} from '@aws-sdk/client-lambda';
import { AwsClientStub } from 'aws-sdk-client-mock';
import { awsError, REGION } from './fixtures';

export function functionArn(name: string): string {
  return `arn:aws:lambda:${REGION}:123456789012:function:${name}`;
}

interface FakeFunction {
  variables: Record<string, string>;
  revision: string;
  status: 'Successful' | 'Failed';
  reason?: string;
  /** Reads left that answer InProgress (the update that is being applied). */
  inProgressReads: number;
  /** $LATEST changed since the last published version. */
  changedSincePublish: boolean;
  versions: Array<{ variables: Record<string, string>; revision: string }>;
  aliases: Map<string, { version: string; revision: string }>;
  /** Lambda could not decrypt the variables (a customer-managed key without kms:Decrypt). */
  environmentError?: { ErrorCode: string; Message: string };
}

export class FakeLambda {
  readonly functions = new Map<string, FakeFunction>();
  /** How many reads after each update answer InProgress. */
  readsPerUpdate = 2;
  /** The reason the next update ends Failed with (once). */
  failNextUpdate?: string;
  /** Called before each UpdateFunctionConfiguration is checked: a test changes the function here, as someone else would. */
  beforeUpdate?: (input: UpdateFunctionConfigurationCommandInput) => void;
  /** UpdateFunctionConfiguration calls answered with ResourceConflictException before any is checked. */
  conflicts = 0;
  /** UpdateFunctionConfiguration calls answered with TooManyRequestsException (Lambda's throttling) first. */
  throttles = 0;

  add(arn: string, variables: Record<string, string> = {}, aliases: Record<string, string> = {}): this {
    this.functions.set(arn, {
      variables: { ...variables },
      revision: randomUUID(),
      status: 'Successful',
      inProgressReads: 0,
      changedSincePublish: true,
      versions: [],
      aliases: new Map(Object.entries(aliases).map(([name, version]) => [name, { version, revision: randomUUID() }])),
    });
    return this;
  }

  /** Publishes $LATEST as it is now (as a deploy would); returns the version. */
  publish(arn: string): string {
    const fn = this.fn(arn);
    fn.versions.push({ variables: { ...fn.variables }, revision: randomUUID() });
    fn.changedSincePublish = false;
    return String(fn.versions.length);
  }

  /** Someone else's change of the variables (a deploy, the console): a new revision. */
  changeOutOfBand(arn: string, variables: Record<string, string>): void {
    const fn = this.fn(arn);
    fn.variables = { ...fn.variables, ...variables };
    fn.revision = randomUUID();
    fn.changedSincePublish = true;
  }

  variablesOf(arn: string, version?: string): Record<string, string> {
    const fn = this.fn(arn);
    return version === undefined ? fn.variables : fn.versions[Number(version) - 1].variables;
  }

  aliasVersion(arn: string, alias: string): string {
    return this.fn(arn).aliases.get(alias)!.version;
  }

  install(stub: AwsClientStub<LambdaClient>): void {
    stub.on(GetFunctionConfigurationCommand).callsFake((input: GetFunctionConfigurationCommandInput) => this.get(input));
    stub.on(UpdateFunctionConfigurationCommand).callsFake((input: UpdateFunctionConfigurationCommandInput) => this.update(input));
    stub.on(PublishVersionCommand).callsFake((input: PublishVersionCommandInput) => this.publishVersion(input));
    stub.on(GetAliasCommand).callsFake((input: GetAliasCommandInput) => {
      const alias = this.fn(input.FunctionName!).aliases.get(input.Name!);
      if (alias === undefined) throw awsError('ResourceNotFoundException', `Alias not found: ${input.Name}`, 404);
      return { Name: input.Name, FunctionVersion: alias.version, RevisionId: alias.revision };
    });
    stub.on(UpdateAliasCommand).callsFake((input: UpdateAliasCommandInput) => {
      const alias = this.fn(input.FunctionName!).aliases.get(input.Name!)!;
      if (input.RevisionId !== undefined && input.RevisionId !== alias.revision) throw preconditionFailed();
      alias.version = input.FunctionVersion!;
      alias.revision = randomUUID();
      return { Name: input.Name, FunctionVersion: alias.version, RevisionId: alias.revision };
    });
  }

  private fn(arn: string): FakeFunction {
    const fn = this.functions.get(arn);
    if (fn === undefined) throw awsError('ResourceNotFoundException', `Function not found: ${arn}`, 404);
    return fn;
  }

  private get(input: GetFunctionConfigurationCommandInput) {
    const fn = this.fn(input.FunctionName!);
    const environment = fn.environmentError ? { Error: fn.environmentError } : { Variables: { ...fn.variables } };
    if (input.Qualifier !== undefined && input.Qualifier !== '$LATEST') {
      const v = fn.versions[Number(input.Qualifier) - 1];
      if (v === undefined) throw awsError('ResourceNotFoundException', `Function not found: ${input.FunctionName}:${input.Qualifier}`, 404);
      return { FunctionArn: input.FunctionName, Version: input.Qualifier, State: 'Active', Environment: { Variables: { ...v.variables } } };
    }
    const inProgress = fn.inProgressReads > 0;
    if (inProgress) fn.inProgressReads--;
    return {
      FunctionArn: input.FunctionName,
      Version: '$LATEST',
      State: 'Active',
      RevisionId: fn.revision,
      LastUpdateStatus: inProgress ? 'InProgress' : fn.status,
      ...(inProgress || fn.status !== 'Failed'
        ? {}
        : { LastUpdateStatusReason: fn.reason, LastUpdateStatusReasonCode: 'KMSKeyAccessDenied' }),
      Environment: environment,
    };
  }

  private update(input: UpdateFunctionConfigurationCommandInput) {
    if (this.throttles > 0) {
      this.throttles--;
      throw awsError('TooManyRequestsException', 'Rate exceeded', 429);
    }
    if (this.conflicts > 0) {
      this.conflicts--;
      throw awsError('ResourceConflictException', 'The operation cannot be performed at this time. An update is in progress', 409);
    }
    this.beforeUpdate?.(input);
    const fn = this.fn(input.FunctionName!);
    if (fn.inProgressReads > 0) throw awsError('ResourceConflictException', 'An update is in progress for resource', 409);
    if (input.RevisionId !== undefined && input.RevisionId !== fn.revision) throw preconditionFailed();
    const variables = input.Environment?.Variables ?? {};
    const json = JSON.stringify(variables);
    if (Buffer.byteLength(json) > 4096) {
      throw awsError(
        'InvalidParameterValueException',
        `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${json}`,
      );
    }
    fn.variables = { ...variables };
    fn.revision = randomUUID();
    fn.changedSincePublish = true;
    fn.inProgressReads = this.readsPerUpdate;
    fn.status = this.failNextUpdate === undefined ? 'Successful' : 'Failed';
    fn.reason = this.failNextUpdate;
    this.failNextUpdate = undefined;
    return { FunctionArn: input.FunctionName, RevisionId: fn.revision, LastUpdateStatus: 'InProgress' };
  }

  private publishVersion(input: PublishVersionCommandInput) {
    const fn = this.fn(input.FunctionName!);
    if (fn.inProgressReads > 0) throw awsError('ResourceConflictException', 'An update is in progress for resource', 409);
    if (input.RevisionId !== undefined && input.RevisionId !== fn.revision) throw preconditionFailed();
    const version = fn.changedSincePublish || fn.versions.length === 0 ? this.publish(input.FunctionName!) : String(fn.versions.length);
    return {
      FunctionArn: `${input.FunctionName}:${version}`,
      Version: version,
      Environment: { Variables: this.variablesOf(input.FunctionName!, version) },
    };
  }
}

function preconditionFailed(): Error {
  return awsError(
    'PreconditionFailedException',
    'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
    412,
  );
}
