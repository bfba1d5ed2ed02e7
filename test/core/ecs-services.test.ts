import { clusterOf, describeBatches, parseServiceArn, startedAfterPromotion } from '../../core/ecs-services';

describe('clusterOf', () => {
  test('takes the cluster name from a long-format service ARN', () => {
    expect(clusterOf('arn:aws:ecs:eu-west-1:123456789012:service/prod-cluster/web')).toBe('prod-cluster');
  });

  test.each([
    'arn:aws:ecs:eu-west-1:123456789012:service/web', // old short format: no cluster
    'arn:aws:ecs:eu-west-1:123456789012:task/prod/abc',
    'web',
  ])('rejects %s', (arn) => expect(() => clusterOf(arn)).toThrow('is not an ECS service ARN in the long format'));
});

describe('parseServiceArn', () => {
  test('reads region, account, cluster and name of a long-format ARN', () => {
    expect(parseServiceArn('arn:aws:ecs:eu-west-1:123456789012:service/prod-cluster/web')).toEqual({
      region: 'eu-west-1',
      account: '123456789012',
      cluster: 'prod-cluster',
      name: 'web',
    });
    expect(parseServiceArn('arn:aws-cn:ecs:cn-north-1:123456789012:service/c/s')).toMatchObject({
      region: 'cn-north-1',
      cluster: 'c',
      name: 's',
    });
  });

  test.each([
    'arn:aws:ecs:eu-west-1:123456789012:service/web',
    'arn:aws:ecs:eu-west-1:123456789012:service//web',
    'arn:aws:ecs:eu-west-1:123456789012:service/c/',
    'arn:aws:lambda:eu-west-1:123456789012:service/c/s',
    'aws:ecs:eu-west-1:123456789012:service/c/s',
    '',
  ])('gives undefined for %j', (arn) => expect(parseServiceArn(arn)).toBeUndefined());
});

describe('describeBatches', () => {
  const arn = (cluster: string, i: number) => `arn:aws:ecs:eu-west-1:123456789012:service/${cluster}/s${i}`;

  test('groups by cluster in batches of at most 10, keeping the order given', () => {
    const a = Array.from({ length: 23 }, (_, i) => arn('a', i));
    const b = Array.from({ length: 3 }, (_, i) => arn('b', i));
    const { batches, invalid } = describeBatches([...a.slice(0, 5), ...b, ...a.slice(5)]);

    expect(invalid).toEqual([]);
    expect(batches.map((x) => [x.cluster, x.arns.length])).toEqual([
      ['a', 10],
      ['a', 10],
      ['a', 3],
      ['b', 3],
    ]);
    expect(batches.filter((x) => x.cluster === 'a').flatMap((x) => x.arns)).toEqual(a);
  });

  test('ARNs no call can describe are set apart', () => {
    expect(describeBatches(['web', arn('a', 1)])).toEqual({ batches: [{ cluster: 'a', arns: [arn('a', 1)] }], invalid: ['web'] });
  });
});

describe('startedAfterPromotion', () => {
  const promotedAt = new Date('2030-01-01T00:00:00.000Z');

  test('at or after the promotion: yes; a millisecond before, or unknown: no', () => {
    expect(startedAfterPromotion(promotedAt, promotedAt)).toBe(true);
    expect(startedAfterPromotion(new Date(promotedAt.getTime() + 1), promotedAt)).toBe(true);
    expect(startedAfterPromotion(new Date(promotedAt.getTime() - 1), promotedAt)).toBe(false);
    expect(startedAfterPromotion(undefined, promotedAt)).toBe(false);
  });
});
