import { CfnParameter, Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { DsqlUrlSecret, DsqlUrlSecretProps } from '../../lib';
import { functionConfig } from './function-config';
import { givenStack } from './stack-fixture';

/**
 * Each timing prop is used at a fixed resolution (EventBridge and Scheduler
 * rates in minutes, the functions' settings in seconds or milliseconds). A
 * finer value used to crash inside aws-cdk-lib with "'90 seconds' cannot be
 * converted into a whole number of minutes", naming no prop.
 */
describe('Duration props finer than they are used', () => {
  const refused: Array<[string, Partial<DsqlUrlSecretProps>, RegExp]> = [
    [
      'watchdogInterval of 90 seconds',
      { watchdogInterval: Duration.seconds(90) },
      /^watchdogInterval must be a whole number of minutes \(EventBridge runs the watchdog at rate\(N minutes\).*\), got 1 minute 30 seconds: use Duration.minutes\(n\), e.g. Duration.minutes\(2\)$/,
    ],
    [
      'watchdogInterval with milliseconds',
      { watchdogInterval: Duration.millis(120_500) },
      /^watchdogInterval must be a whole number of minutes .*, got 120500 ms: use Duration.minutes\(n\), e.g. Duration.minutes\(2\)$/,
    ],
    [
      'rotationInterval of 4 hours and 30 seconds (Scheduler)',
      { rotationInterval: Duration.seconds(4 * 3600 + 30), tokenLifetime: Duration.hours(10) },
      /^rotationInterval must be a whole number of minutes \(its schedule is rate\(N hours\) or, through EventBridge Scheduler, rate\(N minutes\)\), got 4 hours 30 seconds/,
    ],
    [
      'rotationInterval with milliseconds',
      { rotationInterval: Duration.millis(5 * 3600_000 + 500), tokenLifetime: Duration.hours(10) },
      /^rotationInterval must be a whole number of minutes .*, got 18000500 ms: use Duration.minutes\(n\), e.g. Duration.minutes\(300\)$/,
    ],
    [
      'tokenLifetime with milliseconds',
      { tokenLifetime: Duration.millis(8 * 3600_000 + 1) },
      /^tokenLifetime must be a whole number of seconds \(DSQL's token lifetime \(expiresIn\) is in seconds\), got 28800001 ms: use Duration.seconds\(n\)/,
    ],
    [
      'rolloutAllowance of 1.5 seconds',
      { rolloutAllowance: Duration.millis(1500) },
      /^rolloutAllowance must be a whole number of seconds \(the rotation function counts it in seconds\), got 1500 ms: use Duration.seconds\(n\), e.g. Duration.seconds\(2\)$/,
    ],
    [
      'redeployStagger of half a millisecond',
      { redeployStagger: Duration.millis(0.5) },
      /^redeployStagger must be a whole number of millis \(the rotation function waits whole milliseconds\), got .*: use Duration.millis\(n\), e.g. Duration.millis\(1\)$/,
    ],
  ];
  test.each(refused)('%s is refused naming the prop and the fix', (_name, props, message) => {
    const { stack, cluster } = givenStack();
    expect(() => new DsqlUrlSecret(stack, 'Db', { cluster, ...props })).toThrow(message);
  });

  test('the watchdog range is checked before whole minutes (30 seconds is out of range)', () => {
    const { stack, cluster } = givenStack();
    expect(() => new DsqlUrlSecret(stack, 'Db', { cluster, watchdogInterval: Duration.seconds(30) })).toThrow(
      /^watchdogInterval must be from 1 minute to 1 hour, got 30 seconds$/,
    );
  });

  test.each([
    ['watchdogInterval', (p: CfnParameter) => ({ watchdogInterval: Duration.minutes(p.valueAsNumber) })],
    ['rotationInterval', (p: CfnParameter) => ({ rotationInterval: Duration.hours(p.valueAsNumber) })],
    ['tokenLifetime', (p: CfnParameter) => ({ tokenLifetime: Duration.hours(p.valueAsNumber) })],
    ['rolloutAllowance', (p: CfnParameter) => ({ rolloutAllowance: Duration.minutes(p.valueAsNumber) })],
    ['redeployStagger', (p: CfnParameter) => ({ redeployStagger: Duration.seconds(p.valueAsNumber) })],
  ])('%s from a token is refused: the budget between the props is checked at synth', (prop, propsOf) => {
    const { stack, cluster } = givenStack();
    const param = new CfnParameter(stack, 'Amount', { type: 'Number' });
    expect(() => new DsqlUrlSecret(stack, 'Db', { cluster, ...propsOf(param) })).toThrow(
      new RegExp(`^${prop} must be a literal Duration, got a token \\(\\w+\\): the timing props are checked against each other at synth`),
    );
  });

  test('whole values in any unit are accepted and reach the template unchanged', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', {
      cluster,
      watchdogInterval: Duration.seconds(120),
      // Scheduler: whole minutes, not whole hours.
      rotationInterval: Duration.seconds(5 * 3600 + 60),
      tokenLifetime: Duration.millis(12 * 3600_000),
      rolloutAllowance: Duration.millis(90_000),
      redeployStagger: Duration.millis(250),
    });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(2 minutes)' });
    t.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(301 minutes)' });
    expect(functionConfig(stack, 'DbRotationFunction')).toMatchObject({
      tokenLifetimeSeconds: 12 * 3600,
      rolloutAllowanceSeconds: 90,
      redeployStaggerMs: 250,
    });
  });
});
