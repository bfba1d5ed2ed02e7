/**
 * The built function bundles (scripts/bundle-functions.mjs, `npm run bundle`): what the construct
 * deploys. Each function gets its own bundle with only the clients it calls, so a client it never uses
 * costs it no cold-start time.
 */
import * as fs from 'fs';
import * as path from 'path';
import { FunctionBundle, FunctionBundleName, HANDLER_EXPORT } from '../../lib/contract';
import * as initialRotationEntry from '../../functions/entry/initial-rotation';
import * as roleBootstrapEntry from '../../functions/entry/role-bootstrap';
import * as rotationEntry from '../../functions/entry/rotation';
import * as watchdogEntry from '../../functions/entry/watchdog';

const ASSETS = path.join(__dirname, '..', '..', 'assets', 'functions');
const NAMES = Object.values(FunctionBundle);

function bundleFile(name: FunctionBundleName): string {
  const file = path.join(ASSETS, name, 'index.js');
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`npm run bundle\``);
  return file;
}

/**
 * A string only the given package's code contains (its Smithy shape ids or namespace, pg's SASL
 * mechanism). The rotation bundle has them all but DSQL's control plane, which only the first rotation
 * calls: that is checked below, so an absence elsewhere means something.
 */
const MARKERS = {
  'secrets-manager': 'com.amazonaws.secretsmanager#',
  ecs: 'com.amazonaws.ecs#',
  ssm: 'com.amazonaws.ssm#',
  iam: 'com.amazonaws.iam#',
  dsql: '"com.amazonaws.dsql"',
  // Its JSON protocol's target prefix: only the CodeDeploy client sends it.
  codedeploy: 'CodeDeploy_20141006',
  pg: 'SCRAM-SHA-256',
} as const;
type Client = keyof typeof MARKERS;

const EXPECTED: Record<FunctionBundleName, Client[]> = {
  [FunctionBundle.ROTATION]: ['secrets-manager', 'ecs', 'ssm', 'iam', 'codedeploy', 'pg'],
  // ECS, SSM and CodeDeploy for the fleet check and its heal (functions/fleet-check.ts).
  [FunctionBundle.WATCHDOG]: ['secrets-manager', 'ecs', 'ssm', 'codedeploy', 'pg'],
  // pg only for the grant check of a custom role without the bootstrap (role-grant-check.ts), loaded on first use.
  [FunctionBundle.INITIAL_ROTATION]: ['secrets-manager', 'iam', 'dsql', 'pg'],
  [FunctionBundle.ROLE_BOOTSTRAP]: ['pg'],
};

describe('function entries (sources)', () => {
  test.each([
    ['rotation', rotationEntry],
    ['watchdog', watchdogEntry],
    ['initial-rotation', initialRotationEntry],
    ['role-bootstrap', roleBootstrapEntry],
  ])('functions/entry/%s.ts exports only the handler, a function', (_name, entry) => {
    expect(Object.keys(entry)).toEqual([HANDLER_EXPORT]);
    expect(typeof (entry as Record<string, unknown>)[HANDLER_EXPORT]).toBe('function');
  });
});

describe('built function bundles', () => {
  test.each(NAMES)('assets/functions/%s/index.js exports a function named HANDLER_EXPORT', (name) => {
    const mod = require(bundleFile(name)) as Record<string, unknown>;
    expect(typeof mod[HANDLER_EXPORT]).toBe('function');
  });

  test.each(NAMES)('the %s bundle holds exactly the clients its function calls', (name) => {
    const text = fs.readFileSync(bundleFile(name), 'utf8');
    const present = (Object.keys(MARKERS) as Client[]).filter((client) => text.includes(MARKERS[client]));
    expect(present).toEqual(EXPECTED[name]);
  });

  test('the watchdog leaves out IAM; the first rotation leaves out ECS and SSM', () => {
    const has = (name: FunctionBundleName, client: Client) => fs.readFileSync(bundleFile(name), 'utf8').includes(MARKERS[client]);
    // The markers are real: the rotation bundle, which calls every client, contains each of them.
    for (const client of Object.keys(MARKERS) as Client[]) {
      expect(has(client === 'dsql' ? FunctionBundle.INITIAL_ROTATION : FunctionBundle.ROTATION, client)).toBe(true);
    }
    expect(has(FunctionBundle.WATCHDOG, 'iam')).toBe(false);
    for (const client of ['ecs', 'ssm'] as const) expect(has(FunctionBundle.INITIAL_ROTATION, client)).toBe(false);
  });

  test.each(NAMES)('THIRD-PARTY-NOTICES.txt beside the %s bundle lists its packages with their licence texts', (name) => {
    const notices = fs.readFileSync(path.join(ASSETS, name, 'THIRD-PARTY-NOTICES.txt'), 'utf8');
    const version = (pkg: string) =>
      (JSON.parse(fs.readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;
    const sm = `@aws-sdk/client-secrets-manager ${version('@aws-sdk/client-secrets-manager')}\nLicense: Apache-2.0`;
    // The role bootstrap calls no AWS API: it only signs a token (@aws-sdk/dsql-signer) and connects.
    if (EXPECTED[name].includes('secrets-manager')) expect(notices).toContain(sm);
    else expect(notices).toContain(`@aws-sdk/dsql-signer ${version('@aws-sdk/dsql-signer')}\nLicense: Apache-2.0`);
    expect(notices).toContain('Apache License');
    const pg = `\npg ${version('pg')}\nLicense: MIT`;
    if (EXPECTED[name].includes('pg')) expect(notices).toContain(pg);
    else expect(notices).not.toContain(pg);
  });
});
