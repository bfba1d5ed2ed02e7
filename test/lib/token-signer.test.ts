import { Annotations as CoreAnnotations, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { DsqlUrlSecret, TokenSigner } from '../../lib';
import { ROLE_SIGNER_DEAD_TASK_MINUTES_PER_WEEK } from '../../lib/token-signer-binding';
import { givenStack } from './stack-fixture';

const roleSignerWarnings = (stack: Stack) =>
  Annotations.fromStack(stack).findWarning('/TestStack/Db', Match.stringLikeRegexp('cdk-dsql-url-secret:role-signer'));

describe('the role signer is an explicit choice, with a warning', () => {
  test('it warns with the simulated dead task-minutes per week and names the default', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.rotationFunctionRole() });
    const warnings = roleSignerWarnings(stack);
    expect(warnings).toHaveLength(1);
    const text = String(warnings[0].entry.data);
    expect(text).toContain(`about ${ROLE_SIGNER_DEAD_TASK_MINUTES_PER_WEEK} dead task-minutes a week`);
    expect(text).toContain('TokenSigner.managedAccessKey()');
    expect(text).toMatch(/SCP/);
    // No IAM user for this signer.
    Template.fromStack(stack).resourceCountIs('AWS::IAM::User', 0);
  });

  test('the warning can be acknowledged', () => {
    const { stack, cluster } = givenStack();
    const db = new DsqlUrlSecret(stack, 'Db', { cluster, signer: TokenSigner.rotationFunctionRole() });
    CoreAnnotations.of(db).acknowledgeWarning('cdk-dsql-url-secret:role-signer', 'IAM users are forbidden by an SCP here');
    expect(roleSignerWarnings(stack)).toHaveLength(0);
  });

  test('over 12 hours of tokenLifetime, the lifetime warning comes as well', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', {
      cluster,
      signer: TokenSigner.rotationFunctionRole(),
      rotationInterval: Duration.hours(12),
      tokenLifetime: Duration.days(1),
    });
    expect(roleSignerWarnings(stack)).toHaveLength(1);
    Annotations.fromStack(stack).hasWarning('/TestStack/Db', Match.stringLikeRegexp('cdk-dsql-url-secret:roleSignerLifetime'));
  });

  test('neither the default signer nor an explicit managedAccessKey() warns', () => {
    for (const signer of [undefined, TokenSigner.managedAccessKey()]) {
      const { stack, cluster } = givenStack();
      new DsqlUrlSecret(stack, 'Db', { cluster, signer });
      expect(roleSignerWarnings(stack)).toHaveLength(0);
      Template.fromStack(stack).resourceCountIs('AWS::IAM::User', 1);
    }
  });
});
