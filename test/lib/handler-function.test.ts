import { Template } from 'aws-cdk-lib/assertions';
import { FunctionBundle } from '../../lib/contract';
import { DsqlUrlSecret, TokenSigner } from '../../lib';
import { bundleOfFunction, functionId } from './function-bundle';
import { givenStack } from './stack-fixture';

describe('function bundles', () => {
  test('each function deploys its own bundle and runs its index.handler', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.managedAccessKey() });
    const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
    const expected = {
      DbRotationFunction: FunctionBundle.ROTATION,
      DbWatchdogFunction: FunctionBundle.WATCHDOG,
      DbInitialRotationFunction: FunctionBundle.INITIAL_ROTATION,
    };
    const keys = new Set<string>();
    for (const [prefix, bundle] of Object.entries(expected)) {
      const id = functionId(stack, prefix);
      expect(functions[id].Properties.Handler).toBe('index.handler');
      expect(bundleOfFunction(stack, id)).toBe(bundle);
      keys.add(String(functions[id].Properties.Code.S3Key));
    }
    expect(keys.size).toBe(3);
  });

  test('a missing bundle fails synthesis with the command that builds it', () => {
    const { stack, cluster } = givenStack();
    // The fs module object itself (an `import * as` namespace cannot be spied on): the construct reads through it.
    const fs: typeof import('fs') = jest.requireActual('fs');
    const exists = fs.existsSync;
    const spy = jest
      .spyOn(fs, 'existsSync')
      .mockImplementation((p) => !String(p).endsWith(`${FunctionBundle.WATCHDOG}/index.js`) && exists(p));
    try {
      expect(() => new DsqlUrlSecret(stack, 'Db', { cluster })).toThrow(
        /The watchdog function bundle is missing at .*: run 'npm run bundle'/,
      );
    } finally {
      spy.mockRestore();
    }
  });
});
