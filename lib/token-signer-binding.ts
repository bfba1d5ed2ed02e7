import { Annotations, Duration } from 'aws-cdk-lib/core';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct, IConstruct } from 'constructs';
import { SignerConfig, SignerKind } from './contract';
import { ManagedAccessKey } from './managed-access-key';

// Lambda's role credentials were seen to die after about 12 hours; tokens they sign cannot outlive them.
const ROLE_SIGNER_SAFE_LIFETIME = Duration.hours(12);

/**
 * Dead task-minutes per week with the role signer: minutes during which a
 * running task holds a token that no longer authenticates, because Lambda
 * ended the role session that signed it (1 to 12 hours after signing).
 * Measured by test/simulation/signers.test.ts with the default timing, 3
 * services × 2 tasks, 24 standalone tasks a day, 5 % of rollouts stuck and 5 % of
 * rotations failed; that test fails when this drifts from its figure.
 */
export const ROLE_SIGNER_DEAD_TASK_MINUTES_PER_WEEK = 2700;

/** What a signer needs to know to bind its resources to a DsqlUrlSecret. */
export interface TokenSignerBindOptions {
  readonly clusterArn: string;
  /** `dsql:DbConnectAdmin` or `dsql:DbConnect`, by database role. */
  readonly connectAction: string;
  readonly rotationFunction: lambda.Function;
  readonly tokenLifetime: Duration;
  /** The URL secret's key, also used for the signer's own secret. */
  readonly encryptionKey?: kms.IKey;
}

/** What the construct gets back from a bound signer. */
export interface TokenSignerBinding {
  /** The IAM identity that signs, to which custom database roles must be granted. */
  readonly signerArn: string;
  /** The `signer` part of the rotation function's configuration. */
  readonly rotationFunctionConfig: SignerConfig;
  readonly firstRotation: FirstRotationSigner;
}

/** What the first-rotation function needs of the signer: the cleanup of what CloudFormation cannot delete itself. */
export interface FirstRotationSigner {
  /** InitialRotationFunctionConfig.signerUserName: the user whose keys Delete removes; null: none. */
  readonly userName: string | null;
  /** Lets `fn` remove the user's keys, and has `resource` deleted before the user. */
  grantCleanup(fn: lambda.IFunction, resource: IConstruct): void;
}

export type TokenSignerBinder = (scope: Construct, options: TokenSignerBindOptions) => TokenSignerBinding;

/** The rotation function's own role signs: it gets the connect permission itself. */
export const bindRoleSigner: TokenSignerBinder = (scope, options) => {
  if (options.tokenLifetime.toSeconds() > ROLE_SIGNER_SAFE_LIFETIME.toSeconds()) {
    Annotations.of(scope).addWarningV2(
      'cdk-dsql-url-secret:roleSignerLifetime',
      `tokenLifetime is ${options.tokenLifetime.toHumanString()}, but tokens signed by the rotation function's role die with its session ` +
        'credentials, seen to last about 12 hours at best: use signer: TokenSigner.managedAccessKey() for longer-lived tokens',
    );
  }
  Annotations.of(scope).addWarningV2(
    'cdk-dsql-url-secret:role-signer',
    "signer: TokenSigner.rotationFunctionRole() signs tokens with the rotation function's role session, which Lambda ends at a time " +
      'it does not tell (seen from about 1 to 12 hours): a token can die hours before tokenLifetime, and tasks holding it cannot ' +
      'connect until the watchdog notices and a rollout replaces them. Simulated with the default timing on 3 services × 2 tasks ' +
      `and 24 standalone tasks a day: about ${ROLE_SIGNER_DEAD_TASK_MINUTES_PER_WEEK} dead task-minutes ` +
      'a week. Tokens signed by the default, TokenSigner.managedAccessKey(), live their full tokenLifetime. Keep this signer ' +
      'only where IAM users or access keys are forbidden (an SCP), and acknowledge this warning to say so.',
  );
  options.rotationFunction.addToRolePolicy(new iam.PolicyStatement({ actions: [options.connectAction], resources: [options.clusterArn] }));
  return {
    signerArn: options.rotationFunction.role!.roleArn,
    rotationFunctionConfig: { kind: SignerKind.ROLE },
    firstRotation: { userName: null, grantCleanup: () => undefined },
  };
};

/** A dedicated IAM user signs with access keys the rotation function replaces (see ManagedAccessKey). */
export const bindManagedAccessKey: TokenSignerBinder = (scope, options) => {
  const managed = new ManagedAccessKey(scope, 'Signer', {
    clusterArn: options.clusterArn,
    connectAction: options.connectAction,
    rotationFunction: options.rotationFunction,
    encryptionKey: options.encryptionKey,
  });
  const user = managed.user;
  return {
    signerArn: user.userArn,
    rotationFunctionConfig: { kind: SignerKind.ACCESS_KEY, userName: user.userName, keysSecretArn: managed.keysSecret.secretArn },
    firstRotation: {
      userName: user.userName,
      grantCleanup: (fn, resource) => {
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['iam:ListAccessKeys', 'iam:DeleteAccessKey'], resources: [user.userArn] }));
        // Deleted before the user, so its access keys can be removed first.
        resource.node.addDependency(user);
      },
    },
  };
};
