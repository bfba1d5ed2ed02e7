/** The endpoint tag `exec --sign` reads: its codec, and what the construct writes at synth. */
import { Template } from 'aws-cdk-lib/assertions';
import { DatabaseRole, DsqlUrlSecret } from '../../lib';
import { EndpointTag } from '../../lib/secret-tags';
import { givenStack } from '../lib/stack-fixture';

const HOST = 'abc.dsql.eu-west-1.on.aws';

describe('the endpoint tag', () => {
  // Tag values: letters, digits, spaces and _.:/=+-@ only (Secrets Manager TagResource).
  const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

  test.each([
    { host: HOST, port: 5432, database: 'postgres', username: 'admin', urlQuery: 'sslmode=require' },
    { host: HOST, port: 5432, database: 'app$db', username: 'app_rw', urlQuery: 'sslmode=verify-full&uselibpqcompat=true' },
    { host: 'vpce-1.dsql-fnh4.eu-west-1.vpce.amazonaws.com', port: 6543, database: 'd', username: 'r$1', urlQuery: '' },
    { host: HOST, port: 5432, database: 'postgres', username: 'admin', urlQuery: new URLSearchParams({ a: '%2F?x=1+2*~!' }).toString() },
  ])('round trip with allowed characters only: %j', (settings) => {
    const value = EndpointTag.encode(settings)!;
    expect(value).toMatch(TAG_VALUE);
    expect(EndpointTag.decode(value)).toEqual(settings);
  });

  test('readable for the common case; too long: left out; malformed: undefined', () => {
    expect(EndpointTag.encode({ host: HOST, port: 5432, database: 'postgres', username: 'admin', urlQuery: 'sslmode=require' })).toBe(
      `postgres://admin@${HOST}:5432/postgres sslmode=require`,
    );
    expect(EndpointTag.encode({ host: HOST, port: 5432, database: 'postgres', username: 'admin', urlQuery: `x=${'y'.repeat(200)}` })).toBe(
      undefined,
    );
    for (const raw of [undefined, '', 'postgres://admin@host/postgres', 'https://admin@h:5432/p', 'postgres://a@h:5432/p x=+ZZ']) {
      expect(EndpointTag.decode(raw)).toBeUndefined();
    }
  });

  test('the construct writes it at synth, the host filled in by CloudFormation', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, databaseRole: DatabaseRole.custom('app_rw'), urlParameters: { sslmode: 'verify-full' } });
    const [secret] = Object.values(Template.fromStack(stack).findResources('AWS::SecretsManager::Secret')).filter((r) =>
      ((r.Properties.Tags ?? []) as Array<{ Key: string }>).some((t) => t.Key === EndpointTag.key),
    );
    const value = (secret.Properties.Tags as Array<{ Key: string; Value: unknown }>).find((t) => t.Key === EndpointTag.key)!.Value as {
      'Fn::Join': [string, Array<string | { Ref: string }>];
    };
    const [sep, parts] = value['Fn::Join'];
    expect(parts.filter((p) => typeof p !== 'string')).toEqual([{ Ref: expect.stringMatching(/^Cluster/) }]);
    for (const p of parts) if (typeof p === 'string') expect(p).toMatch(TAG_VALUE);
    const deployed = parts.map((p) => (typeof p === 'string' ? p : 'abcdefghijklmnopqrstuvwxyz')).join(sep);
    expect(EndpointTag.decode(deployed)).toEqual({
      host: 'abcdefghijklmnopqrstuvwxyz.dsql.eu-west-1.on.aws',
      port: 5432,
      database: 'postgres',
      username: 'app_rw',
      urlQuery: 'sslmode=verify-full',
    });
  });
});
