// The vendor's requests for more error data, polled over call home and answered by the
// administrator.
export { AgentDataRequestStore, type AgentDataRequest } from './data-request-store.js';
export { DataRequestDesk, startDataRequests } from './data-requests.js';
export type { DataRequestChannel } from './data-requests.js';
