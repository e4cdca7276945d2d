// The hub's audit trail: logins, enrollments, tunnels and sessions, in the store and the log.
export { HubAudit } from './hub-audit.js';
