import { isRotationInProgressError } from '../../core/rotation-errors';

describe('isRotationInProgressError', () => {
  const err = (name: string, message: string) => Object.assign(new Error(message), { name });

  test.each(["A previous rotation isn't complete. That rotation will be reattempted.", 'Previous rotation request is still in progress.'])(
    'InvalidRequestException %j: a rotation is in progress',
    (message) => {
      expect(isRotationInProgressError(err('InvalidRequestException', message))).toBe(true);
    },
  );

  test('other errors are not', () => {
    expect(isRotationInProgressError(err('InvalidRequestException', 'You cannot rotate a secret scheduled for deletion'))).toBe(false);
    expect(isRotationInProgressError(err('AccessDeniedException', 'previous rotation in progress'))).toBe(false);
    expect(isRotationInProgressError(undefined)).toBe(false);
  });
});
