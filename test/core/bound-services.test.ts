import { parseBoundServices, readBoundServices } from '../../core/bound-services';
import { boundServicesParameterName } from '../../lib/contract';

const BASE = '/cdk-dsql-url-secret/app/bound-services';
const arn = (i: number) => `arn:aws:ecs:eu-west-1:123456789012:service/c/s${i}`;

describe('boundServicesParameterName', () => {
  test('<base>, <base>-2, <base>-3, ...', () => {
    expect([0, 1, 2].map((i) => boundServicesParameterName(BASE, i))).toEqual([BASE, `${BASE}-2`, `${BASE}-3`]);
  });
});

describe('readBoundServices', () => {
  const store = (values: Record<string, string>) => {
    const asked: string[] = [];
    return {
      asked,
      read: async (name: string) => {
        asked.push(name);
        return values[name];
      },
    };
  };

  test('reads until a parameter is missing, joining and de-duplicating', async () => {
    const s = store({ [BASE]: JSON.stringify([arn(1), arn(2)]), [`${BASE}-2`]: JSON.stringify([arn(3), arn(1)]) });

    await expect(readBoundServices(BASE, s.read)).resolves.toEqual({
      arns: [arn(1), arn(2), arn(3)],
      parametersRead: 2,
      missing: `${BASE}-3`,
    });
    expect(s.asked).toEqual([BASE, `${BASE}-2`, `${BASE}-3`]);
  });

  test('reads no more than count parameters', async () => {
    const s = store({ [BASE]: JSON.stringify([arn(1)]), [`${BASE}-2`]: JSON.stringify([arn(2)]) });

    await expect(readBoundServices(BASE, s.read, 1)).resolves.toEqual({ arns: [arn(1)], parametersRead: 1 });
    expect(s.asked).toEqual([BASE]);
  });

  test('none yet: the first parameter is missing', async () => {
    await expect(readBoundServices(BASE, store({}).read)).resolves.toEqual({ arns: [], parametersRead: 0, missing: BASE });
  });
});

describe('parseBoundServices', () => {
  test.each(['{"arn":"x"}', '"x"', '[1]', '[null]', 'null', 'not json'])('%j is refused, naming the parameter and the fix', (raw) => {
    expect(() => parseBoundServices(raw, BASE)).toThrow(
      `SSM parameter ${BASE} must hold a JSON array of ECS service ARNs; ` +
        'was it changed by hand? Deploy the stack again to restore it.',
    );
  });
});
