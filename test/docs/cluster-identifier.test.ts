import { App, Stack } from 'aws-cdk-lib';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import { DsqlUrlSecret } from '../../lib';

const ID = 'abcdefghijklmnopqrstuvwxyz';

function synthWith(identifier: string): DsqlUrlSecret {
  const stack = new Stack(new App(), 'Stack', { env: { account: '123456789012', region: 'us-east-1' } });
  return new DsqlUrlSecret(stack, 'DatabaseUrl', { cluster: dsql.CfnCluster.fromIdentifier(stack, 'Cluster', identifier) });
}

describe('the cluster identifier is checked at synth', () => {
  test('an existing cluster referenced by its identifier: the URL uses its public endpoint', () => {
    expect(synthWith(ID).host).toBe(`${ID}.dsql.us-east-1.on.aws`);
    expect(synthWith('0123456789abcdefghijklmnop').host).toMatch(/^0123456789abcdefghijklmnop\.dsql\./);
  });

  test('a cluster created in the app passes: its identifier is a token until deployment', () => {
    const stack = new Stack(new App(), 'Stack', { env: { account: '123456789012', region: 'us-east-1' } });
    expect(() => new DsqlUrlSecret(stack, 'DatabaseUrl', { cluster: new dsql.CfnCluster(stack, 'Cluster', {}) })).not.toThrow();
  });

  test.each([`${ID}.dsql.us-east-1.on.aws`, `https://${ID}.dsql.us-east-1.on.aws:5432`])(
    'an endpoint host name (%s) names the prop and the identifier to pass',
    (host) => {
      expect(() => synthWith(host)).toThrow(
        `cluster: the cluster identifier (clusterRef.identifier) must be 26 lower-case letters and digits, got '${host}', which is an ` +
          `endpoint host name: pass dsql.CfnCluster.fromIdentifier(this, 'Cluster', '${ID}') (the host name's first label)`,
      );
    },
  );

  test('an ARN names the prop and the identifier after cluster/', () => {
    const arn = `arn:aws:dsql:us-east-1:123456789012:cluster/${ID}`;
    expect(() => synthWith(arn)).toThrow(
      `got '${arn}', which is an ARN: pass dsql.CfnCluster.fromIdentifier(this, 'Cluster', '${ID}') (the part after 'cluster/')`,
    );
    expect(() => synthWith('arn:aws:iam::123456789012:role/x')).toThrow("which is an ARN: pass the part after 'cluster/' of the ARN");
  });

  test('upper case, a wrong length or other characters are refused', () => {
    expect(() => synthWith(ID.toUpperCase())).toThrow(
      `DSQL identifiers are lower case; pass dsql.CfnCluster.fromIdentifier(this, 'Cluster', '${ID}')`,
    );
    for (const bad of [ID.slice(1), `${ID}a`, 'abcdefghijklmnopqrstuvwxy-', 'my-cluster']) {
      expect(() => synthWith(bad)).toThrow(`must be 26 lower-case letters and digits, got '${bad}': pass the identifier that`);
    }
  });
});
