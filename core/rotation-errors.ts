/**
 * RotateSecret's answer while AWSPENDING is on a version other than AWSCURRENT
 * (AWS: "A previous rotation isn't complete…"; moto: "Previous rotation
 * request is still in progress.").
 */
export function isRotationInProgressError(err: unknown): boolean {
  const e = err as { name?: string; message?: string } | undefined;
  return (
    e?.name === 'InvalidRequestException' &&
    /previous rotation|in progress|isn't complete|is not complete|not yet complete/i.test(e.message ?? '')
  );
}
