// The session broker: a technician's session request becomes a ticket and a stream on the
// station's tunnel, within each user's share of requests.
export { SessionBroker } from './session-broker.js';
export { SessionRequestShares, sessionRequestLimitsOf } from './session-request-shares.js';
