import * as fs from 'fs';
import * as path from 'path';
import { Stack, Stage } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { FunctionBundle, FunctionBundleName } from '../../lib/contract';

const ASSETS = path.join(__dirname, '..', '..', 'assets', 'functions');

/**
 * Which of assets/functions/<name>/ the function with this logical id deploys: the asset its
 * Code.S3Key names, as staged in the cloud assembly, compared byte for byte with each built bundle.
 */
export function bundleOfFunction(stack: Stack, logicalId: string): FunctionBundleName | 'none' {
  const fn = Template.fromStack(stack).findResources('AWS::Lambda::Function')[logicalId];
  if (fn === undefined) throw new Error(`no function ${logicalId} in ${stack.stackName}`);
  const key = String(fn.Properties.Code.S3Key);
  const hash = key.replace(/\.zip$/, '');
  // Template.fromStack synthesized the app already: synth() returns that assembly, assets staged in it.
  const staged = path.join(Stage.of(stack)!.synth().directory, `asset.${hash}`, 'index.js');
  const code = fs.readFileSync(staged);
  const match = Object.values(FunctionBundle).find((name) => code.equals(fs.readFileSync(path.join(ASSETS, name, 'index.js'))));
  return match ?? 'none';
}

/** The logical id of the one function whose id starts with `prefix` (e.g. `DbWatchdogFunction`). */
export function functionId(stack: Stack, prefix: string): string {
  const ids = Object.keys(Template.fromStack(stack).findResources('AWS::Lambda::Function')).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one function starting with ${prefix}, got ${ids.join(', ') || 'none'}`);
  return ids[0];
}
