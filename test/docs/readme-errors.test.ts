import * as fs from 'fs';
import * as path from 'path';
import { Duration } from 'aws-cdk-lib';
import { validateClusterIdentifier, validateTiming } from '../../lib/validation';
import { evaluateDefault, readPropDocs } from './prop-docs';

const ROOT = path.join(__dirname, '..', '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The inline code that starts with `start` in the README, as one line. */
function quoted(start: string): string {
  const m = new RegExp('`(' + start.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '[^`]*)`').exec(README);
  if (!m) throw new Error(`README quotes no message starting with '${start}'`);
  return m[1].replace(/\s+/g, ' ');
}

function thrown(f: () => void): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

describe('synth errors the README quotes are the ones thrown', () => {
  test('rotationInterval: Duration.hours(6) with the default tokenLifetime', () => {
    // The defaults as the props' JSDoc states them (test/docs/prop-docs.test.ts checks those against the construct).
    const docs = readPropDocs(path.join(ROOT, 'lib', 'dsql-url-secret-props.ts'), 'DsqlUrlSecretProps');
    const stated = (prop: string) => evaluateDefault(docs.get(prop)!.defaultText) as Duration;
    const defaults = {
      tokenLifetime: stated('tokenLifetime'),
      rolloutAllowance: stated('rolloutAllowance'),
      watchdogInterval: stated('watchdogInterval'),
    };
    expect(quoted('tokenLifetime must be at least')).toBe(
      thrown(() => validateTiming({ ...defaults, rotationInterval: Duration.hours(6) })),
    );
  });

  test('an endpoint host name where the cluster identifier goes', () => {
    const host = 'abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws';
    expect(quoted('cluster: the cluster identifier')).toBe(thrown(() => validateClusterIdentifier(host)));
  });
});
