// Entry of the first-rotation function's bundle (assets/functions/initial-rotation/index.js).
export { initialRotationHandler as handler } from '../initial-rotation';
