// Entry of the role-bootstrap function's bundle (assets/functions/role-bootstrap/index.js).
import { roleBootstrapHandler } from '../role-bootstrap';
import { withRequestId } from './with-request-id';

export const handler = withRequestId(roleBootstrapHandler);
