/**
 * A small stateful fake of Secrets Manager behind an aws-sdk-client-mock stub
 * (so the commands sent can still be asserted), and the shapes it returns.
 */
import {
  DescribeSecretCommand,
  DescribeSecretCommandOutput,
  GetSecretValueCommand,
  GetSecretValueCommandInput,
  PutSecretValueCommand,
  PutSecretValueCommandInput,
  ResourceNotFoundException,
  SecretsManagerClient,
  TagResourceCommand,
  TagResourceCommandInput,
  UntagResourceCommand,
  UntagResourceCommandInput,
  UpdateSecretVersionStageCommand,
  UpdateSecretVersionStageCommandInput,
} from '@aws-sdk/client-secrets-manager';
import { AwsClientStub } from 'aws-sdk-client-mock';
import { DsqlUrlSecretValue } from '../../lib/contract';
import { PromotedTag } from '../../lib/secret-tags';
import { HOST, KEYS_SECRET_ARN, OLD_VERSION, SECRET_ARN, TOKEN } from './fixtures';

export function describeSecretOutput(
  options: {
    stages?: Record<string, string[]>;
    tags?: Record<string, string>;
    rotationEnabled?: boolean;
  } = {},
): DescribeSecretCommandOutput {
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

/** The construct's initial placeholder: every field present, url and password empty. */
export function placeholderValue(): Record<string, string> {
  return {
    url: '',
    host: HOST,
    port: '5432',
    username: 'admin',
    password: '',
    dbname: 'postgres',
    sslmode: 'require',
    issuedAt: '',
    expiresAt: '',
  };
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
    this.versions.set(versionId, {
      stages: [...stages],
      value: typeof value === 'string' || value === undefined ? value : JSON.stringify(value),
    });
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
      throw Object.assign(new Error(`${stage} is attached to ${holder}; RemoveFromVersionId must name it`), {
        name: 'InvalidParameterException',
      });
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
