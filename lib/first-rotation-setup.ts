import { Duration } from 'aws-cdk-lib/core';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct, IDependable } from 'constructs';
import { RotationFunctionConfig } from './contract';
import { DatabaseRole } from './database-role';
import { InitialRotation } from './initial-rotation';
import { setUpDatabaseRole } from './role-bootstrap';
import { scheduleRotation } from './rotation-schedules';
import { ROTATION_TAG_KEYS } from './secret-tags';
import { TokenSignerBinding } from './token-signer-binding';

/** What DsqlUrlSecret hands over to schedule the rotation and run the first one during deployment. */
export interface FirstRotationSetupProps {
  readonly secret: secretsmanager.ISecret;
  readonly rotationFunction: lambda.Function;
  readonly rotationInterval: Duration;
  readonly cluster: dsql.IClusterRef;
  readonly signer: TokenSignerBinding;
  /** The rotation function's configuration: the URL's settings and the statement timeout come from it. */
  readonly config: RotationFunctionConfig;
  readonly databaseRole: DatabaseRole;
  /** The cluster's public endpoint: the role bootstrap runs outside any VPC. */
  readonly publicHost: string;
  /** The VPC endpoints the first rotation calls, when it runs in a VPC. */
  readonly vpcEndpoints: IDependable[];
}

/**
 * The rotation schedule and the first rotation (a custom resource), with the
 * role bootstrap before it: every consumer (bound services and functions)
 * waits for the first rotation, so none starts without a URL.
 */
export function setUpFirstRotation(scope: Construct, props: FirstRotationSetupProps): InitialRotation {
  const { config, databaseRole } = props;
  const signerArn = props.signer.signerArn;
  const cluster = {
    identifier: props.cluster.clusterRef.identifier,
    region: config.region,
    arn: dsql.CfnCluster.arnForCluster(props.cluster),
  };
  // finishSecret records the promotion time on the secret so retries never redeploy twice;
  // createSecret tags a deferred rotation, and a real rotation's finishSecret removes that tag.
  // Only those keys: every key of the request among them, and a request must name keys (ForAllValues holds for none).
  props.rotationFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['secretsmanager:TagResource', 'secretsmanager:UntagResource'],
      resources: [props.secret.secretArn],
      conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [...ROTATION_TAG_KEYS] }, Null: { 'aws:TagKeys': 'false' } },
    }),
  );
  const rotationSchedule = scheduleRotation(scope, {
    secret: props.secret,
    rotationFunction: props.rotationFunction,
    interval: props.rotationInterval,
  });

  const initialRotation = new InitialRotation(scope, 'InitialRotation', {
    secret: props.secret,
    cluster,
    rotationFunction: props.rotationFunction,
    // Its own log group (lib/handler-function.ts), so this creates nothing.
    rotationLogGroupName: props.rotationFunction.logGroup.logGroupName,
    signer: props.signer.firstRotation,
    urlSettings: {
      Host: config.host,
      Port: String(config.port),
      Database: config.database,
      Username: config.username,
      UrlQuery: config.urlQuery,
    },
    signerArn,
    // Opted out of the role bootstrap: the first rotation fails fast with the grant to run while DSQL refuses the role.
    roleGrantCheck: databaseRole.isAdmin || databaseRole.bootstrap ? undefined : { roleName: databaseRole.name },
  });
  // Only the custom resource waits: its function and role must not, or a KMS key grant closes a cycle.
  initialRotation.resource.node.addDependency(rotationSchedule);
  // The first rotation runs in the VPC: the endpoints it calls must exist first.
  initialRotation.resource.node.addDependency(...props.vpcEndpoints);
  // After a configuration change, the rotation it runs must see the function's new configuration and permissions.
  initialRotation.resource.node.addDependency(props.rotationFunction);
  // A custom role exists and is granted to the signer before the first rotation (opted out: the signer's ARN is an output).
  setUpDatabaseRole(
    scope,
    {
      clusterArn: cluster.arn,
      // Its function runs outside any VPC, where only the public endpoint resolves.
      host: props.publicHost,
      port: config.port,
      region: config.region,
      database: config.database,
      role: databaseRole,
      signerArn,
      statementTimeout: Duration.seconds(config.connectTimeoutSeconds),
    },
    initialRotation.resource,
  );
  return initialRotation;
}
