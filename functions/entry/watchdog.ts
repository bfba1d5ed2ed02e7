// Entry of the watchdog function's bundle (assets/functions/watchdog/index.js).
import { watchdogHandler } from '../watchdog';
import { withRequestId } from './with-request-id';

export const handler = withRequestId(watchdogHandler);
