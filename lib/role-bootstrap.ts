import { CfnOutput, CustomResource, Duration, Stack } from 'aws-cdk-lib/core';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct, IConstruct } from 'constructs';
import { FUNCTION_CONFIG_ENV, FunctionBundle, RoleBootstrapFunctionConfig } from './contract';
import { DatabaseRole } from './database-role';
import { newHandlerFunction } from './handler-function';

export interface RoleBootstrapProps {
  /** The cluster the function may connect to as admin: its only DSQL permission. */
  readonly clusterArn: string;
  readonly host: string;
  readonly port: number;
  readonly region: string;
  readonly database: string;
  /** A custom role with `bootstrap` on. */
  readonly role: DatabaseRole;
  /** The identity the role is granted to (the token signer). */
  readonly signerArn: string;
  /** How long the connection and each statement may take. */
  readonly statementTimeout: Duration;
}

/**
 * Creates a custom database role and grants it to the signer during
 * deployment, so that a custom role passes its first deploy: a custom
 * resource the first rotation depends on, run by a function whose only DSQL
 * permission is dsql:DbConnectAdmin on this cluster. It revokes nothing, on
 * update or on delete (see functions/role-bootstrap.ts).
 */
export class RoleBootstrap extends Construct {
  public readonly resource: CustomResource;
  public readonly function: lambda.Function;

  constructor(scope: Construct, id: string, props: RoleBootstrapProps) {
    super(scope, id);
    const config: RoleBootstrapFunctionConfig = {
      host: props.host,
      port: props.port,
      region: props.region,
      database: props.database,
      roleName: props.role.name,
      signerArn: props.signerArn,
      grants: props.role.grants,
      connectTimeoutSeconds: props.statementTimeout.toSeconds(),
    };
    // The connection, two look-ups, at most two changes, each grant, and the answer to CloudFormation.
    const statements = 5 + props.role.grants.length;
    this.function = newHandlerFunction(this, 'Function', {
      bundle: FunctionBundle.ROLE_BOOTSTRAP,
      description: `Creates the Aurora DSQL role ${props.role.name} if missing and grants it to the URL's token signer`,
      timeout: Duration.seconds(props.statementTimeout.toSeconds() * statements + 30),
      // Outside any VPC on purpose, like the first-rotation function: it must reach CloudFormation's S3 response
      // URL, and DSQL's public endpoint accepts IAM-authenticated connections from anywhere.
      environment: { [FUNCTION_CONFIG_ENV]: Stack.of(this).toJsonString(config) },
    });
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['dsql:DbConnectAdmin'], resources: [props.clusterArn] }));
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.function.functionArn,
      resourceType: 'Custom::DsqlUrlSecretRoleBootstrap',
      // What the function reads is its configuration; these make CloudFormation run it again when one changes.
      properties: { Host: props.host, RoleName: props.role.name, SignerArn: props.signerArn, Grants: props.role.grants },
    });
  }
}

/**
 * What a custom role needs before the first rotation (`firstRotation`, which
 * then depends on it): the bootstrap by default; with `bootstrap: false`, the
 * signer's ARN as a stack output for the team that grants the role itself.
 * Nothing for the admin role.
 */
export function setUpDatabaseRole(scope: Construct, props: RoleBootstrapProps, firstRotation: IConstruct): RoleBootstrap | undefined {
  if (props.role.isAdmin) return undefined;
  if (!props.role.bootstrap) {
    new CfnOutput(scope, 'SignerArn', {
      value: props.signerArn,
      description: `The identity that signs the URL's tokens: as admin, run AWS IAM GRANT ${props.role.name} TO '<this ARN>';`,
    });
    return undefined;
  }
  const bootstrap = new RoleBootstrap(scope, 'RoleBootstrap', props);
  firstRotation.node.addDependency(bootstrap.resource);
  return bootstrap;
}
