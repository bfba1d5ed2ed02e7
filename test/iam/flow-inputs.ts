/**
 * What the least-privilege flows (recorded-flows.ts) give the first-rotation function and the watchdog: the event and
 * configuration CloudFormation and the construct would give them, for the run's resources.
 */
import type { CustomResourceEvent } from '../../functions/cfn-response';
import { InitialRotationFunctionConfig, RoleBootstrapFunctionConfig, WatchdogFunctionConfig } from '../../lib/contract';
import { LocalStack } from '../support/local-stack';
import { ACCOUNT, REGION } from './least-privilege-stack';

export /** The names the construct writes into its functions' configuration, read from the template. */
interface TemplateNames {
  readonly boundServicesParameter: string;
  readonly boundFunctionsParameter: string;
}

/** The first-rotation function's event and configuration, as CloudFormation and the construct would give them. */
export function firstRotationInvocation(
  stack: LocalStack,
  requestType: 'Create' | 'Delete',
  responseUrl: string,
  clusterIdentifier: string,
) {
  const c = stack.rotationConfig();
  const event: CustomResourceEvent = {
    RequestType: requestType,
    ResponseURL: responseUrl,
    StackId: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/LeastPrivilegeStack/1`,
    RequestId: `req-${requestType}`,
    LogicalResourceId: 'DatabaseUrlInitialRotation',
    ResourceType: 'Custom::DsqlUrlSecretInitialRotation',
    ResourceProperties: {
      SecretArn: stack.secretArn,
      UrlSettings: { Host: c.host, Port: String(c.port), Database: c.database, Username: c.username, UrlQuery: c.urlQuery },
      SignerArn: stack.signerArn,
    },
    ...(requestType === 'Create' ? {} : { PhysicalResourceId: stack.secretArn }),
  };
  const config: InitialRotationFunctionConfig = {
    secretArn: stack.secretArn,
    rotationLogGroupName: 'App-DbUrlRotationFunctionLogs1A2B3C4D-EfGh5678',
    timeoutSeconds: 90,
    signerUserName: stack.accessKeySigner!.userName,
    clusterIdentifier,
    clusterRegion: REGION,
    redriveAfterSeconds: 180,
    maxRotationAttempts: 3,
    roleGrantCheck: null,
  };
  return { event, config };
}

/** The watchdog's configuration as the construct writes it (lib/watchdog.ts), for this run's parameters. */
export function watchdogConfig(
  stack: LocalStack,
  names: TemplateNames,
  rotateBeforeExpirySeconds: number,
  rolloutAllowanceSeconds: number,
) {
  const config: WatchdogFunctionConfig = {
    secretArn: stack.secretArn,
    rotateBeforeExpirySeconds,
    stalePendingSeconds: 900,
    metricDimension: 'least-privilege',
    connectTimeoutSeconds: 5,
    boundServicesParameter: names.boundServicesParameter,
    boundServicesParameterCount: 1,
    boundServicesFingerprint: 'least-privilege',
    boundFunctionsParameter: names.boundFunctionsParameter,
    boundFunctionsParameterCount: 1,
    rolloutAllowanceSeconds,
    redeployConcurrency: 5,
  };
  return config;
}

/** The role bootstrap's Create event and configuration: create `roleName` and grant it to the signer, no table grants. */
export function roleBootstrapInvocation(stack: LocalStack, responseUrl: string, roleName: string) {
  const event: CustomResourceEvent = {
    RequestType: 'Create',
    ResponseURL: responseUrl,
    StackId: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/RoleBootstrapStack/1`,
    RequestId: 'req-bootstrap',
    LogicalResourceId: 'DatabaseUrlRoleBootstrap',
    ResourceProperties: { RoleName: roleName, SignerArn: stack.signerArn, Grants: [] },
  };
  const config: RoleBootstrapFunctionConfig = stack.roleBootstrapConfig({ roleName, grants: [] });
  return { event, config };
}
