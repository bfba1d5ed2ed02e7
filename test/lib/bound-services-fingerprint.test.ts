/**
 * The watchdog's boundServicesFingerprint (BoundServices.fingerprint): the
 * same bound services give the same value in every synth; binding another
 * service, or other services, gives another. The fleet check keeps its read of
 * the bound-services parameters only while it is unchanged
 * (functions/fleet-bound-services.ts).
 */
import { Stack } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { DsqlUrlSecret } from '../../lib';
import { functionConfig } from './function-config';
import { givenService, givenStack } from './stack-fixture';

/** A stack whose secret has `names` bound (services created for each), and the imported ARNs bound too. */
function fingerprintOf(names: readonly string[], imported: readonly string[] = []): string {
  const { stack, cluster, ecsCluster } = givenStack();
  const db = new DsqlUrlSecret(stack, 'Db', { cluster });
  for (const name of names) db.redeployOnRotation(givenService(stack, ecsCluster, name));
  for (const arn of imported) {
    db.redeployOnRotation(
      ecs.FargateService.fromFargateServiceAttributes(stack, arn.split('/').pop()!, { serviceArn: arn, cluster: ecsCluster }),
    );
  }
  return String(functionConfig(stack as Stack, 'DbWatchdogFunction').boundServicesFingerprint);
}

const IMPORTED = 'arn:aws:ecs:eu-west-1:123456789012:service/shared/billing';

describe('the bound services fingerprint in the watchdog configuration', () => {
  test('is 16 hex digits, the same for the same services in every synth', () => {
    const fingerprint = fingerprintOf(['A', 'B']);
    expect(fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprintOf(['A', 'B'])).toBe(fingerprint);
  });

  test('changes when a service is bound, or another one instead', () => {
    const two = fingerprintOf(['A', 'B']);
    expect(fingerprintOf(['A', 'B', 'C'])).not.toBe(two);
    expect(fingerprintOf(['A', 'C'])).not.toBe(two);
    expect(fingerprintOf(['A'])).not.toBe(two);
  });

  test('covers imported services by their ARN', () => {
    const withImported = fingerprintOf(['A'], [IMPORTED]);
    expect(withImported).not.toBe(fingerprintOf(['A']));
    expect(fingerprintOf(['A'], [IMPORTED.replace('billing', 'ledger')])).not.toBe(withImported);
  });

  test('with no service bound it is still set: the fleet check keeps the read of the empty parameter', () => {
    expect(fingerprintOf([])).toMatch(/^[0-9a-f]{16}$/);
  });
});
