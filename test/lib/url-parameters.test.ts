import { DsqlUrlSecret, UrlParameters } from '../../lib';
import { functionConfig } from './function-config';
import { givenStack } from './stack-fixture';

describe('UrlParameters.verifyFull', () => {
  test('as urlParameters: the URL the rotation function builds carries sslmode=verify-full and the extra parameters', () => {
    const { stack, cluster } = givenStack();
    new DsqlUrlSecret(stack, 'Db', { cluster, urlParameters: UrlParameters.verifyFull({ application_name: 'orders' }) });
    expect(functionConfig(stack, 'DbRotationFunction').urlQuery).toBe('sslmode=verify-full&application_name=orders');
  });

  test('extra parameters still pass the urlParameters check at synth', () => {
    const { stack, cluster } = givenStack();
    expect(() => new DsqlUrlSecret(stack, 'Db', { cluster, urlParameters: UrlParameters.verifyFull({ 'Bad Key': 'x' }) })).toThrow(
      /urlParameters: 'Bad Key=x' is not a valid connection URL parameter/,
    );
  });
});
