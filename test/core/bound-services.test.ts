import { describeInvalidEntry, parseBoundServiceEntries, parseBoundServices, readBoundServices } from '../../core/bound-services';
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
      codeDeploy: new Map(),
      arns: [arn(1), arn(2), arn(3)],
      parametersRead: 2,
      missing: `${BASE}-3`,
      invalid: [],
    });
    expect(s.asked).toEqual([BASE, `${BASE}-2`, `${BASE}-3`]);
  });

  test('reads no more than count parameters', async () => {
    const s = store({ [BASE]: JSON.stringify([arn(1)]), [`${BASE}-2`]: JSON.stringify([arn(2)]) });

    await expect(readBoundServices(BASE, s.read, 1)).resolves.toEqual({
      codeDeploy: new Map(),
      arns: [arn(1)],
      parametersRead: 1,
      invalid: [],
    });
    expect(s.asked).toEqual([BASE]);
  });

  test('by default (the CLI) a malformed value is an error naming its parameter', async () => {
    const s = store({ [BASE]: JSON.stringify([arn(1), null]) });

    await expect(readBoundServices(BASE, s.read)).rejects.toThrow(`SSM parameter ${BASE} must hold a JSON array of ECS service ARNs`);
  });

  test("with invalid: 'collect' (the function) bad entries are listed and reading goes on", async () => {
    const s = store({ [BASE]: JSON.stringify([arn(1), null]), [`${BASE}-2`]: 'not json', [`${BASE}-3`]: JSON.stringify([arn(3)]) });

    await expect(readBoundServices(BASE, s.read, 3, { invalid: 'collect' })).resolves.toEqual({
      codeDeploy: new Map(),
      arns: [arn(1), arn(3)],
      parametersRead: 3,
      invalid: [
        { parameter: BASE, index: 1, entry: 'null' },
        { parameter: `${BASE}-2`, entry: 'not json' },
      ],
    });
  });

  test('none yet: the first parameter is missing', async () => {
    await expect(readBoundServices(BASE, store({}).read)).resolves.toEqual({
      codeDeploy: new Map(),
      arns: [],
      parametersRead: 0,
      missing: BASE,
      invalid: [],
    });
  });
});

describe('parseBoundServices', () => {
  test.each(['{"arn":"x"}', '"x"', '[1]', '[null]', 'null', 'not json'])('%j is refused, naming the parameter and the fix', (raw) => {
    expect(() => parseBoundServices(raw, BASE)).toThrow(
      `SSM parameter ${BASE} must hold a JSON array of ECS service ARNs (or {"service", "codeDeploy"} objects); ` +
        'was it changed by hand? Deploy the stack again to restore it.',
    );
  });
});

describe('parseBoundServiceEntries', () => {
  test('keeps the strings, names every other entry by position, shortens long ones', () => {
    const long = { junk: 'x'.repeat(200) };
    const parsed = parseBoundServiceEntries(JSON.stringify([arn(1), null, 7, long, arn(2)]), BASE);

    expect(parsed.arns).toEqual([arn(1), arn(2)]);
    expect(parsed.invalid.map(describeInvalidEntry)).toEqual([
      `entry 1 of ${BASE} (null)`,
      `entry 2 of ${BASE} (7)`,
      `entry 3 of ${BASE} (${JSON.stringify(long).slice(0, 80)}...)`,
    ]);
  });

  test('a value that is not an array is one entry without a position', () => {
    expect(parseBoundServiceEntries('{"a":1}', BASE).invalid.map(describeInvalidEntry)).toEqual([`${BASE} ({"a":1}: not a JSON array)`]);
  });
});

describe('entries of services bound with a CodeDeploy deployment group', () => {
  const target = { application: 'app', deploymentGroup: 'web-bg' };
  const entry = (service: string, codeDeploy: unknown = target) => ({ service, codeDeploy });

  test('an object entry gives its ARN (in order with the plain ones) and its deployment group', () => {
    const parsed = parseBoundServiceEntries(JSON.stringify([arn(1), entry(arn(2)), arn(3)]), BASE);

    expect(parsed.arns).toEqual([arn(1), arn(2), arn(3)]);
    expect([...parsed.codeDeploy]).toEqual([[arn(2), target]]);
    expect(parsed.invalid).toEqual([]);
  });

  test.each([
    ['no codeDeploy', { service: arn(2) }],
    ['no service', { codeDeploy: target }],
    ['an empty service', entry('')],
    ['a service that is not a string', { service: 7, codeDeploy: target }],
    ['no deploymentGroup', entry(arn(2), { application: 'app' })],
    ['an empty application', entry(arn(2), { application: '', deploymentGroup: 'g' })],
    ['a deploymentGroup that is not a string', entry(arn(2), { application: 'app', deploymentGroup: ['g'] })],
    ['codeDeploy as an array', entry(arn(2), ['app', 'g'])],
  ])('a malformed object (%s) is an invalid entry, the others are kept', (_, bad) => {
    const parsed = parseBoundServiceEntries(JSON.stringify([arn(1), bad]), BASE);

    expect(parsed.arns).toEqual([arn(1)]);
    expect(parsed.codeDeploy.size).toBe(0);
    const json = JSON.stringify(bad);
    // Quoted in errors and logs shortened to 80 characters.
    expect(parsed.invalid).toEqual([{ parameter: BASE, index: 1, entry: json.length <= 80 ? json : `${json.slice(0, 80)}...` }]);
  });

  test('readBoundServices joins the deployment groups of every parameter; the first binding of a service wins', async () => {
    const other = { application: 'app', deploymentGroup: 'other' };
    const values: Record<string, string> = {
      [BASE]: JSON.stringify([entry(arn(1)), arn(2)]),
      [`${BASE}-2`]: JSON.stringify([entry(arn(3), other), entry(arn(1), other)]),
    };

    const read = await readBoundServices(BASE, async (name) => values[name], 2);

    expect(read.arns).toEqual([arn(1), arn(2), arn(3)]);
    expect([...read.codeDeploy]).toEqual([
      [arn(1), target],
      [arn(3), other],
    ]);
  });

  test('the CLI (throw) refuses a parameter with a malformed object, naming the parameter', async () => {
    await expect(readBoundServices(BASE, async () => JSON.stringify([{ service: arn(1) }]))).rejects.toThrow(
      `SSM parameter ${BASE} must hold a JSON array of ECS service ARNs`,
    );
  });
});
