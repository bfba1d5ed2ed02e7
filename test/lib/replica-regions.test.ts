/**
 * Multi-region (issue 9, section 6): a replicated URL secret would carry this region's URL into
 * another region, so it is refused at synth, however the replica was added. One DsqlUrlSecret per
 * region, each with its own region's cluster, is the shape that works.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { DsqlUrlSecret } from '../../lib';
import { givenStack } from './stack-fixture';

const REFUSED = /DsqlUrlSecret TestStack\/Db: its secret must not be replicated \(ReplicaRegions us-west-2, .*one DsqlUrlSecret per region/;

describe('replica regions on the URL secret', () => {
  test('addReplicaRegion() is refused at synth, naming the region, why and the fix', () => {
    // GIVEN
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster });
    // WHEN
    (db.secret as secretsmanager.Secret).addReplicaRegion('us-west-2');
    // THEN
    expect(() => Template.fromStack(stack)).toThrow(REFUSED);
    expect(() => Template.fromStack(stack)).toThrow(/signed for this region's endpoint \(<cluster id>\.dsql\.eu-west-1\.on\.aws\)/);
  });

  test('an escape hatch on the CfnSecret is refused too (replicaRegions and addPropertyOverride)', () => {
    const viaProperty = givenStack();
    const a = new DsqlUrlSecret(viaProperty.stack, 'Db', { cluster: viaProperty.cluster });
    (a.secret.node.defaultChild as secretsmanager.CfnSecret).replicaRegions = [{ region: 'us-west-2' }];
    expect(() => Template.fromStack(viaProperty.stack)).toThrow(REFUSED);

    const viaOverride = givenStack();
    const b = new DsqlUrlSecret(viaOverride.stack, 'Db', { cluster: viaOverride.cluster });
    (b.secret.node.defaultChild as secretsmanager.CfnSecret).addPropertyOverride('ReplicaRegions', [{ Region: 'us-west-2' }]);
    expect(() => Template.fromStack(viaOverride.stack)).toThrow(REFUSED);
  });

  test('without replicas the secret synthesizes without ReplicaRegions', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster });
    const secret = Object.values(Template.fromStack(stack).findResources('AWS::SecretsManager::Secret')).find(
      (r) => !String(r.Properties.Description ?? '').includes('signer'),
    )!;
    expect(secret.Properties.ReplicaRegions).toBeUndefined();
  });

  test('one DsqlUrlSecret per region, each with its own peered cluster: each URL and status check names its own region', () => {
    // GIVEN two stacks of one app, one per region, with peered clusters (a witness region, each listing the other).
    const app = new App();
    const peerArn = (region: string) => `arn:aws:dsql:${region}:123456789012:cluster/${'a'.repeat(26)}`;
    const built = [
      ['us-east-1', 'us-east-2'],
      ['us-east-2', 'us-east-1'],
    ].map(([region, peer]) => {
      const stack = new Stack(app, `Data-${region}`, { env: { account: '123456789012', region } });
      const cluster = new dsql.CfnCluster(stack, 'Cluster', {
        multiRegionProperties: { witnessRegion: 'us-west-2', clusters: [peerArn(peer)] },
      });
      // WHEN
      return { region, stack, db: new DsqlUrlSecret(stack, 'Db', { cluster }) };
    });
    // THEN
    for (const { region, stack, db } of built) {
      expect(JSON.stringify(stack.resolve(db.host))).toContain(`.dsql.${region}.on.aws`);
      const fn = Object.entries(Template.fromStack(stack).findResources('AWS::Lambda::Function')).find(([id]) =>
        id.startsWith('DbInitialRotationFunction'),
      )![1];
      expect(JSON.stringify(fn.Properties.Environment.Variables)).toContain(`\\"clusterRegion\\":\\"${region}\\"`);
    }
  });
});
