// Entry of the rotation function's bundle (assets/functions/rotation/index.js).
import { handler as rotationHandler } from '../rotation-handler';
import { withRequestId } from './with-request-id';

export const handler = withRequestId(rotationHandler);
