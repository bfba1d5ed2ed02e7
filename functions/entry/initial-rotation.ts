// Entry of the first-rotation function's bundle (assets/functions/initial-rotation/index.js).
import { initialRotationHandler } from '../initial-rotation';
import { withRequestId } from './with-request-id';

export const handler = withRequestId(initialRotationHandler);
