import * as fs from 'fs';
import * as path from 'path';
import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** The pre-bundled handlers (rotation, watchdog, first rotation) in one file. */
export const HANDLER_ASSET = path.join(__dirname, '..', 'assets', 'functions');

export interface HandlerFunctionProps {
  /** Export of the bundle, e.g. `index.watchdogHandler`. */
  readonly handler: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly environment: { [key: string]: string };
  readonly vpc?: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
}

/** A function running one of the bundled handlers; all share one asset. */
export function newHandlerFunction(scope: Construct, id: string, props: HandlerFunctionProps): lambda.Function {
  if (!fs.existsSync(path.join(HANDLER_ASSET, 'index.js'))) {
    throw new Error(`The rotation handler bundle is missing at ${HANDLER_ASSET}: run 'npm run bundle' (the package build does this)`);
  }
  return new lambda.Function(scope, id, {
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    code: lambda.Code.fromAsset(HANDLER_ASSET),
    memorySize: 256,
    ...props,
  });
}
