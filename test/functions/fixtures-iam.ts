/** A small stateful fake of IAM access keys behind an aws-sdk-client-mock stub. */
import {
  CreateAccessKeyCommand,
  CreateAccessKeyCommandInput,
  DeleteAccessKeyCommand,
  DeleteAccessKeyCommandInput,
  IAMClient,
  ListAccessKeysCommand,
  ListAccessKeysCommandInput,
  NoSuchEntityException,
} from '@aws-sdk/client-iam';
import { AwsClientStub } from 'aws-sdk-client-mock';
import { SIGNER_USER } from './fixtures';

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
          UserName: this.userName,
          AccessKeyId: key.accessKeyId,
          SecretAccessKey: key.secretAccessKey,
          Status: 'Active',
          CreateDate: new Date(),
        },
      };
    });
  }
}
