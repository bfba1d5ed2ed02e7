import * as fs from 'fs';
import * as path from 'path';
import { Duration } from 'aws-cdk-lib/core';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { FunctionBundleName, HANDLER_EXPORT } from './contract';
import { newFunctionLogGroup, scopeLogsToOwnGroup } from './function-log-group';

/** The pre-bundled functions: one directory per function, `<bundle>/index.js` (scripts/bundle-functions.mjs). */
export const FUNCTIONS_ASSET_DIR = path.join(__dirname, '..', 'assets', 'functions');

export interface HandlerFunctionProps {
  /** Which function's bundle to run, e.g. `watchdog`: its own asset, with only the clients it calls. */
  readonly bundle: FunctionBundleName;
  readonly description: string;
  readonly timeout: Duration;
  readonly environment: { [key: string]: string };
  readonly vpc?: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
}

/**
 * A function running one of the bundled handlers, from its own asset directory, writing to a log group of its own
 * (`<id>Logs`, see setFunctionLogRetention) with a role that may write there and to no other log group.
 */
export function newHandlerFunction(scope: Construct, id: string, props: HandlerFunctionProps): lambda.Function {
  const { bundle, ...rest } = props;
  const asset = path.join(FUNCTIONS_ASSET_DIR, bundle);
  if (!fs.existsSync(path.join(asset, 'index.js'))) {
    throw new Error(
      `The ${bundle} function bundle is missing at ${asset}: run 'npm run bundle' (npm install and the package build do this)`,
    );
  }
  const logGroup = newFunctionLogGroup(scope, `${id}Logs`);
  const fn = new lambda.Function(scope, id, {
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    code: lambda.Code.fromAsset(asset),
    handler: `index.${HANDLER_EXPORT}`,
    memorySize: 256,
    logGroup,
    ...rest,
  });
  scopeLogsToOwnGroup(fn, logGroup, props.vpc !== undefined);
  return fn;
}
