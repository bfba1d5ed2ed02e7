// Entry of the watchdog function's bundle (assets/functions/watchdog/index.js).
export { watchdogHandler as handler } from '../watchdog';
