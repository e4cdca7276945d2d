// The call-home channel: enrollment, reports (one or a batch), station routes, data requests and
// the certificate lifecycle routes.
export { buildCallHomeApi, enrollmentTokenId } from './callhome-api.js';
