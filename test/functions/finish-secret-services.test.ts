/**
 * finishSecret with bound-services lists a hand edit or a bad layout can
 * produce: entries that are not ARNs, services ECS does not know, services in
 * another region or account. The others are always redeployed first.
 */
import 'aws-sdk-client-mock-jest';
import { UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { handler } from '../../functions/rotation-handler';
import { BOUND_SERVICES_PARAMETER, SECRET_ARN, serviceArn, TOKEN } from './fixtures';
import { useMockedAws } from './fixtures-config';
import { FakeEcs } from './fixtures-ecs';
import { FakeSecretsManager } from './fixtures-secrets-manager';

jest.mock('../../functions/connection-check');

const { smMock, ecsMock, ssmMock } = useMockedAws();

const A = serviceArn('main', 'a');
const B = serviceArn('main', 'b');
const event = { Step: 'finishSecret', SecretId: SECRET_ARN, ClientRequestToken: TOKEN };
const updatedServices = () => ecsMock.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input.service);

function parameterHolds(value: unknown[]): void {
  ssmMock.on(GetParameterCommand, { Name: BOUND_SERVICES_PARAMETER }).resolves({ Parameter: { Value: JSON.stringify(value) } });
}

/** Runs the step, returning its error (or undefined) and the JSON records it logged. */
async function run(): Promise<{ error?: Error; records: Array<Record<string, unknown>> }> {
  const lines: string[] = [];
  jest.spyOn(console, 'log').mockImplementation((line: string) => {
    lines.push(line);
  });
  const error = await handler(event).then(
    () => undefined,
    (e: Error) => e,
  );
  const records = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { error, records };
}

const summaryOf = (records: Array<Record<string, unknown>>) => records.find((r) => r.message === 'finishSecret: redeploy summary');
const metricsOf = (records: Array<Record<string, unknown>>) => records.find((r) => r._aws !== undefined);

describe('finishSecret and its bound-services list', () => {
  test('a null entry is named in the error, the other services are still redeployed, a retry redeploys no one twice', async () => {
    // GIVEN the list holds A, null, B (a hand edit)
    const sm = new FakeSecretsManager();
    sm.install(smMock);
    new FakeEcs().add(A, B).install(ecsMock);
    parameterHolds([A, null, B]);

    // WHEN
    const first = await run();

    // THEN A and B are redeployed, then the step fails naming the entry
    expect(updatedServices().sort()).toEqual([A, B].sort());
    expect(sm.stagesOf(TOKEN)).toContain('AWSCURRENT');
    expect(first.error?.message).toBe(
      'finishSecret: the new URL is AWSCURRENT but 1 bound-services entry is not a service ARN: ' +
        `entry 1 of ${BOUND_SERVICES_PARAMETER} (null); the other services were redeployed. ` +
        'Was the parameter changed by hand? Deploy the stack again to restore it.',
    );
    expect(summaryOf(first.records)).toMatchObject({ services: 2, redeployed: 2, failed: 0, invalidEntries: 1 });
    expect(metricsOf(first.records)).toMatchObject({ RotationSucceeded: 0, ServicesRedeployed: 2, RedeployFailures: 1 });

    // AND a retry (the entry still there) redeploys nothing again and fails the same way
    ecsMock.resetHistory();
    const retry = await run();
    expect(updatedServices()).toEqual([]);
    expect(retry.error?.message).toContain(`entry 1 of ${BOUND_SERVICES_PARAMETER} (null)`);
    expect(summaryOf(retry.records)).toMatchObject({ alreadyCurrent: 2, redeployed: 0 });
  });

  test('a failed service and a bad entry are both named', async () => {
    new FakeSecretsManager().install(smMock);
    const ecs = new FakeEcs().add(A, B);
    ecs.failUpdate = (arn) => (arn === B ? Object.assign(new Error('denied'), { name: 'AccessDeniedException' }) : undefined);
    ecs.install(ecsMock);
    parameterHolds([A, 42, B]);

    const { error } = await run();

    expect(error?.message).toContain(`but 1 of 2 services could not be redeployed: ${B} (AccessDeniedException: denied)`);
    expect(error?.message).toContain(`Also 1 bound-services entry is not a service ARN: entry 1 of ${BOUND_SERVICES_PARAMETER} (42)`);
    expect(updatedServices().sort()).toEqual([A, B].sort());
  });

  test('a service ECS does not know is logged by name and counted as not found; the rotation succeeds', async () => {
    new FakeSecretsManager().install(smMock);
    new FakeEcs().add(A).install(ecsMock);
    parameterHolds([A, B]); // B: no such service

    const { error, records } = await run();

    expect(error).toBeUndefined();
    expect(updatedServices()).toEqual([A]);
    expect(records).toContainEqual(expect.objectContaining({ level: 'WARN', service: B, name: 'b', cluster: 'main', reason: 'MISSING' }));
    expect(summaryOf(records)).toMatchObject({ services: 2, redeployed: 1, gone: 0, notFound: 1, failed: 0 });
    expect(metricsOf(records)).toMatchObject({ RotationSucceeded: 1, ServicesNotFound: 1, RedeployFailures: 0 });
  });

  test('a service in another region fails the step after the others are redeployed, naming both regions', async () => {
    // GIVEN the secret is in us-east-1; one bound service's ARN is in eu-west-1
    const far = 'arn:aws:ecs:eu-west-1:123456789012:service/main/far';
    new FakeSecretsManager().install(smMock);
    new FakeEcs().add(A, B).install(ecsMock);
    parameterHolds([far, A, B]);

    const { error, records } = await run();

    expect(updatedServices().sort()).toEqual([A, B].sort());
    expect(error?.message).toContain(
      `but 1 of 3 services could not be redeployed: ${far} (service is in region eu-west-1, account 123456789012, ` +
        'but this function redeploys services in region us-east-1, account 123456789012 only',
    );
    expect(records).toContainEqual(expect.objectContaining({ level: 'ERROR', service: far, region: 'eu-west-1' }));
    expect(metricsOf(records)).toMatchObject({ RotationSucceeded: 0, ServicesRedeployed: 2, RedeployFailures: 1 });
  });
});
