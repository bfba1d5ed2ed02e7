import { Duration, Names, SecretValue, Stack, Tags } from 'aws-cdk-lib/core';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { FUNCTION_CONFIG_ENV, FunctionBundle, RotationFunctionConfig, SECRET_FIELDS } from './contract';
import { BoundServices } from './bound-services';
import { currentVersionEcsSecret } from './current-version';
import { PLACEHOLDER_SECRET_VALUE } from './configuration-change';
import { SecretDashboard } from './dashboard';
import { DatabaseRole } from './database-role';
import { RedeployOnRotationOptions } from './deployment-controllers';
import { setUpFirstRotation } from './first-rotation-setup';
import { BoundFunctions, FunctionBindingOptions } from './function-consumers';
import { newHandlerFunction } from './handler-function';
import { setFunctionLogRetention } from './function-log-group';
import { InitialRotation } from './initial-rotation';
import { RedeployPermissions } from './redeploy-permissions';
import { refuseReplicaRegions } from './replica-regions';
import { validateServiceLayout } from './service-layout';
import { EndpointTag, SecretTag } from './secret-tags';
import { setUpMonitoring } from './secret-monitoring';
import { StandaloneTaskOptions, StandaloneTasks } from './standalone-tasks';
import { minimumTaskValiditySeconds } from './timing';
import { DsqlUrlSecretProps } from './dsql-url-secret-props';
import { TaskReadPermissions } from './task-read-permissions';
import { TokenSigner } from './token-signer';
import { timingBudget, validateClusterIdentifier, validateSettings, validateTiming } from './validation';
import { ensureFeatureEndpoint, FunctionNetworkOptions, setUpFunctionNetwork } from './vpc-endpoints';

/** Aurora DSQL listens on the PostgreSQL port. */
const DSQL_PORT = 5432;
/** How long the functions' connection checks (testSecret, the watchdog) wait for the connection and `SELECT 1`. */
const CONNECT_TIMEOUT = Duration.seconds(10);

/**
 * A Secrets Manager secret that always holds a working Aurora DSQL connection
 * URL, rotated by a Lambda function that mints a new IAM token, checks that it
 * connects, promotes it, and forces a new deployment of every bound ECS
 * service so that each task starts again with a valid token.
 */
export class DsqlUrlSecret extends Construct {
  /** The secret holding the URL and its parts as JSON. */
  public readonly secret: secretsmanager.ISecret;
  /** The function that rotates the secret. */
  public readonly rotationFunction: lambda.IFunction;
  /**
   * The IAM identity that signs the tokens (the rotation function's role, or
   * the managed IAM user). Custom database roles must be granted to it:
   * `AWS IAM GRANT <role> TO '<signerArn>'`.
   */
  public readonly signerArn: string;
  /** The function that checks the current URL every watchdogInterval. */
  public readonly watchdogFunction: lambda.IFunction;
  /** Fires when the current URL fails to authenticate in consecutive watchdog checks. */
  public readonly tokenCheckAlarm: cloudwatch.Alarm;
  /**
   * Fires when the watchdog itself fails (its invocations error) or stops
   * running (no invocation), in 2 of 3 consecutive watchdogIntervals. While
   * it fires, nothing checks the URL or rescues a failed rotation. Missing
   * data counts as breaching: silence means the watchdog is not running.
   */
  public readonly watchdogFailedAlarm: cloudwatch.Alarm;
  /**
   * Fires when a running task of a bound service holds a token expiring sooner than a heal could replace the task: FleetTokenSecondsLeft
   * (Minimum over a watchdogInterval) below rolloutAllowance + watchdogInterval. Missing data is not breaching (see watchdogFailedAlarm).
   */
  public readonly fleetTokenAlarm: cloudwatch.Alarm;
  /** Fires when a bound Lambda function still holds another value than the current one after the watchdog re-applied it. */
  public readonly functionUpdateAlarm: cloudwatch.Alarm;
  /** Fires when a rotation step fails (Secrets Manager then retries the rotation). */
  public readonly rotationFailedAlarm: cloudwatch.Alarm;
  /** Fires when no rotation succeeded within 1.5 x rotationInterval. */
  public readonly rotationOverdueAlarm: cloudwatch.Alarm;
  /** The endpoint host name in the URL. */
  public readonly host: string;
  /** The database role the URL logs in as. */
  public readonly databaseRole: DatabaseRole;
  /**
   * Least token validity a task gets at start: rotateBeforeExpiry - watchdogInterval - 15 min (failed rotation) - 5 min
   * = 2 x rolloutAllowance + watchdogInterval (a rollout, and the heal of a stuck one).
   */
  public readonly minimumTaskValidity: Duration;
  /** The dashboard of createDashboard (README: Dashboard); undefined without it. */
  public readonly dashboard?: cloudwatch.Dashboard;

  private readonly boundServices: BoundServices;
  private readonly boundFunctions: BoundFunctions;
  private readonly initialRotation: InitialRotation;
  private readonly function: lambda.Function;
  private redeployPermissions?: RedeployPermissions;
  private taskReadPermissions?: TaskReadPermissions;
  /** The signer's own IAM user (access keys): its key guard reads the bound services' tasks. */
  private readonly signerCallsIam: boolean;
  private readonly network: Pick<FunctionNetworkOptions, 'vpc' | 'vpcSubnets' | 'createVpcEndpoints'>;

  constructor(scope: Construct, id: string, props: DsqlUrlSecretProps) {
    super(scope, id);
    setFunctionLogRetention(this, props.logRetention);
    const rotationInterval = props.rotationInterval ?? Duration.hours(4);
    const tokenLifetime = props.tokenLifetime ?? Duration.hours(8);
    const rolloutAllowance = props.rolloutAllowance ?? Duration.minutes(30);
    const database = props.database ?? 'postgres';
    const urlParameters = props.urlParameters ?? { sslmode: 'require' };
    const redeployConcurrency = props.redeployConcurrency ?? 5;
    const watchdogInterval = props.watchdogInterval ?? Duration.minutes(5);
    const signer = props.signer ?? TokenSigner.managedAccessKey();
    this.signerCallsIam = signer._callsIam;
    validateTiming({ rotationInterval, tokenLifetime, rolloutAllowance, watchdogInterval });
    const budget = timingBudget({ rotationInterval, tokenLifetime, rolloutAllowance, watchdogInterval });
    const redeployStagger = props.redeployStagger ?? Duration.seconds(0);
    validateSettings({ database, secretName: props.secretName, urlParameters, redeployConcurrency, redeployStagger });
    validateClusterIdentifier(props.cluster.clusterRef.identifier);

    this.databaseRole = props.databaseRole ?? DatabaseRole.ADMIN;
    const region = props.cluster.env.region;
    const publicHost = `${props.cluster.clusterRef.identifier}.dsql.${region}.on.aws`;
    // A PrivateLink host name, when set, is what clients connect to and what tokens are signed for (DSQL PrivateLink guide).
    this.host = props.endpointHost ?? publicHost;
    const clusterArn = dsql.CfnCluster.arnForCluster(props.cluster);
    this.network = { vpc: props.vpc, vpcSubnets: props.vpcSubnets, createVpcEndpoints: props.createVpcEndpoints ?? false };
    const vpcEndpoints = setUpFunctionNetwork(this, {
      ...this.network,
      endpointHost: props.endpointHost,
      publicHost,
      clusterIdentifier: props.cluster.clusterRef.identifier,
      signerCallsIam: signer._callsIam,
    });

    this.secret = new secretsmanager.Secret(this, 'Secret', {
      secretName: props.secretName,
      encryptionKey: props.encryptionKey,
      description: `Aurora DSQL connection URL for ${this.host} as ${this.databaseRole.name}, rotated by cdk-dsql-url-secret`,
      // No token exists before the first rotation, which InitialRotation runs during deployment. The same
      // value whatever the props: a change to it would make CloudFormation write an empty AWSCURRENT.
      secretStringValue: SecretValue.unsafePlainText(JSON.stringify(PLACEHOLDER_SECRET_VALUE)),
    });

    const metricDimension = Names.uniqueResourceName(this, { maxLength: 200 });
    // The function finds its bound services in parameters whose names are known
    // at synth, so it does not depend on the services, which are created after
    // the first rotation (see redeployOnRotation).
    const boundServicesParameterName = `/cdk-dsql-url-secret/${Names.uniqueResourceName(this, { maxLength: 160, separator: '-' })}/bound-services`;

    refuseReplicaRegions(this, this.secret, region);

    // Lets tools such as the CLI find the bound services and the schedule from the secret alone.
    Tags.of(this.secret).add(SecretTag.MANAGED_BY, this.node.path.slice(0, 256));
    Tags.of(this.secret).add(SecretTag.BOUND_SERVICES_PARAMETER, boundServicesParameterName);
    Tags.of(this.secret).add(SecretTag.ROTATION_INTERVAL_SECONDS, String(rotationInterval.toSeconds()));

    this.function = newHandlerFunction(this, 'RotationFunction', {
      description: `Rotates the Aurora DSQL URL in ${id} and redeploys bound ECS services`,
      bundle: FunctionBundle.ROTATION,
      // finishSecret may redeploy hundreds of services under ECS throttling.
      timeout: Duration.minutes(15),
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      // Set below: the signer's part exists once the signer is bound to this function.
      environment: {},
    });
    this.rotationFunction = this.function;
    this.boundServices = new BoundServices(this, 'BoundServices', boundServicesParameterName, this.function, rolloutAllowance);
    const parameterName = boundServicesParameterName.replace(/bound-services$/, 'bound-functions');
    const functionsProps = { secret: this.secret, parameterName, rotationFunction: this.function, rolloutAllowance, metricDimension };
    this.boundFunctions = new BoundFunctions(this, 'BoundFunctions', { ...functionsProps, signerKind: signer.kind });

    const boundSigner = signer._bind(this, {
      clusterArn,
      connectAction: this.databaseRole.iamAction,
      rotationFunction: this.function,
      tokenLifetime,
      encryptionKey: props.encryptionKey,
    });
    this.signerArn = boundSigner.signerArn;
    const config: RotationFunctionConfig = {
      host: this.host,
      port: DSQL_PORT,
      region,
      database,
      username: this.databaseRole.name,
      tokenLifetimeSeconds: tokenLifetime.toSeconds(),
      urlQuery: new URLSearchParams(urlParameters).toString(),
      boundServicesParameter: boundServicesParameterName,
      // A lazy number: known at synth only, once every service is bound.
      boundServicesParameterCount: this.boundServices.count,
      boundFunctionsParameter: parameterName,
      boundFunctionsParameterCount: this.boundFunctions.count,
      redeployConcurrency,
      redeployStaggerMs: redeployStagger.toMilliseconds(),
      metricDimension,
      connectTimeoutSeconds: CONNECT_TIMEOUT.toSeconds(),
      signer: boundSigner.rotationFunctionConfig,
      rolloutAllowanceSeconds: rolloutAllowance.toSeconds(),
      watchdogIntervalSeconds: watchdogInterval.toSeconds(),
    };
    this.function.addEnvironment(FUNCTION_CONFIG_ENV, Stack.of(this).toJsonString(config));
    // The URL without its token, for `cdk-dsql-url-secret exec --sign` (left out when it may not fit in a tag).
    const endpointTag = EndpointTag.encode(config);
    if (endpointTag !== undefined) Tags.of(this.secret).add(EndpointTag.key, endpointTag);
    const first = { secret: this.secret, rotationFunction: this.function, rotationInterval, signer: boundSigner, cluster: props.cluster };
    this.initialRotation = setUpFirstRotation(this, { ...first, config, databaseRole: this.databaseRole, publicHost, vpcEndpoints });

    const watched = {
      secret: this.secret,
      rotationFunction: this.function,
      boundServices: this.boundServices,
      boundFunctions: this.boundFunctions,
    };
    const monitoring = setUpMonitoring(this, { ...watched, config, rotationInterval, budget, network: this.network });
    this.watchdogFunction = monitoring.watchdogFunction;
    this.tokenCheckAlarm = monitoring.tokenCheckAlarm;
    this.watchdogFailedAlarm = monitoring.watchdogFailedAlarm;
    this.fleetTokenAlarm = monitoring.fleetTokenAlarm;
    this.functionUpdateAlarm = monitoring.functionUpdateAlarm;
    this.rotationFailedAlarm = monitoring.rotationFailedAlarm;
    this.rotationOverdueAlarm = monitoring.rotationOverdueAlarm;
    this.minimumTaskValidity = Duration.seconds(minimumTaskValiditySeconds(budget));
    new StandaloneTasks(this, { secret: this.secret, signer, budget, bound: this.boundServices, initialRotation: this.initialRotation });
    this.dashboard = new SecretDashboard(this, { metricDimension, budget, options: props }).dashboard;
  }

  /**
   * An ECS secret for a container's `secrets`, reading one field of the JSON (the full URL by default) of the AWSCURRENT version.
   * Grants the task's execution role read access to that stage only (lib/current-version.ts).
   * @param field one of url, host, port, username, password, dbname, sslmode, issuedAt, expiresAt
   * @default 'url'
   */
  public ecsSecret(field: string = 'url'): ecs.Secret {
    if (!SECRET_FIELDS.includes(field)) {
      throw new Error(`ecsSecret: unknown field '${field}'; use one of ${SECRET_FIELDS.join(', ')}`);
    }
    return currentVersionEcsSecret(this.secret, field);
  }

  /**
   * Forces a new deployment of `service` after every rotation, so that its
   * tasks restart with the new URL before the old token expires. The service
   * is created after the first rotation has completed, so no task starts
   * without a valid URL. Call once per service.
   *
   * The service must be in this construct's stack or in a NestedStack of it,
   * in the same region and account: another top-level stack would make a
   * dependency cycle, and the rotation function redeploys in its own region
   * and account only. A service stack can hold its own DsqlUrlSecret instead
   * (the cluster may stay in a data stack).
   * A CODE_DEPLOY service needs `codeDeployDeploymentGroup` (README: Deployment controllers).
   * @param options how the service is redeployed
   */
  public redeployOnRotation(service: ecs.IBaseService, options: RedeployOnRotationOptions = {}): void {
    validateServiceLayout(this, service);
    this.boundServices.add(service, options);
    // Created with the first service: a policy needs at least one resource. The watchdog's fleet check heals a stuck service.
    const roles = [this.function.role!, this.watchdogFunction.role!];
    this.redeployPermissions ??= new RedeployPermissions(this, 'RedeployPolicy', roles, this.boundServices);
    // The fleet check lists the tasks; with the access key, so does createSecret before deleting a key (functions/key-guard.ts).
    const readers = this.signerCallsIam ? roles : [this.watchdogFunction.role!];
    this.taskReadPermissions ??= new TaskReadPermissions(this, 'TaskReadPolicy', readers, this.boundServices.services);
    if (options.codeDeployDeploymentGroup) ensureFeatureEndpoint(this, this.network, 'CodeDeploy', this.initialRotation.resource);
    service.node.addDependency(this.initialRotation.resource);
  }

  /**
   * Writes the secret's current `field` into `variable` of `fn` after every rotation (README: Lambda consumers). `fn` is created after the
   * first rotation; its template value is a dynamic reference to the current value, so a later deploy never writes an old one.
   * @param options the variable (default DATABASE_URL), the field (default url), and an alias to move after each update
   */
  public updateFunctionOnRotation(fn: lambda.IFunction, options: FunctionBindingOptions = {}): void {
    this.boundFunctions.add(fn, options, this.initialRotation.resource);
    ensureFeatureEndpoint(this, this.network, 'Lambda', this.initialRotation.resource);
  }

  /**
   * Declares a task definition run outside bound services (RunTask, schedules, Step Functions): never redeployed, its tasks must end within
   * minimumTaskValidity. Grants the execution role read. Needs TokenSigner.managedAccessKey(): a role's tokens may die at any time.
   */
  public addStandaloneTask(taskDefinition: ecs.TaskDefinition, options: StandaloneTaskOptions): void {
    StandaloneTasks.of(this).add(taskDefinition, options);
  }

  /** Adds this secret's widgets (README: Dashboard) to `dashboard`, below what it holds: token validity, rotations, consumers, alarms. */
  public addToDashboard(dashboard: cloudwatch.Dashboard): void {
    SecretDashboard.of(this).addTo(dashboard);
  }

  /** Grants read access to the secret's value. */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.secret.grantRead(grantee);
  }
}
