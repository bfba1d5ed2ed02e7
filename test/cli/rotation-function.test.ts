import { functionNameOf, logGroupOf } from '../../cli/rotation-function';

const ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:AppStack-RotationFunction';

test('the function name and its default log group, from a Lambda ARN', () => {
  expect(functionNameOf(ARN)).toBe('AppStack-RotationFunction');
  expect(logGroupOf(ARN)).toBe('/aws/lambda/AppStack-RotationFunction');
});

test('no ARN, or one without a function name: undefined, so the hint falls back to words', () => {
  for (const arn of [undefined, null, '', 'arn:aws:lambda:eu-west-1:123456789012']) {
    expect(functionNameOf(arn)).toBeUndefined();
    expect(logGroupOf(arn)).toBeUndefined();
  }
});
