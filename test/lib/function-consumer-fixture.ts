import { App, Duration, NestedStack, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DsqlUrlSecret, TokenSigner } from '../../lib';

export const ENV = { account: '123456789012', region: 'eu-west-1' };

/** A stack with a DsqlUrlSecret (access-key signer unless told). */
export function given(props: { signer?: TokenSigner; rolloutAllowance?: Duration } = {}): { app: App; stack: Stack; db: DsqlUrlSecret } {
  const app = new App();
  const stack = new Stack(app, 'Stack', { env: ENV });
  const cluster = new dsql.CfnCluster(stack, 'Cluster', {});
  const db = new DsqlUrlSecret(stack, 'Db', { cluster, signer: props.signer ?? TokenSigner.managedAccessKey(), ...props });
  return { app, stack, db };
}

/** A small application function with an inline handler. */
export function appFunction(scope: Stack | NestedStack, id: string, props: Partial<lambda.FunctionProps> = {}): lambda.Function {
  return new lambda.Function(scope, id, {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => process.env.DATABASE_URL.length;'),
    ...props,
  });
}

export function logicalId(fn: lambda.Function): string {
  return Stack.of(fn).resolve((fn.node.defaultChild as lambda.CfnFunction).logicalId) as string;
}

/** The function's environment variables as the template holds them. */
export function variablesOf(template: Template, fn: lambda.Function): Record<string, unknown> {
  return template.toJSON().Resources[logicalId(fn)].Properties.Environment.Variables;
}
