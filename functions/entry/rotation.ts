// Entry of the rotation function's bundle (assets/functions/rotation/index.js).
export { handler } from '../rotation-handler';
