// Service sessions: the gate that checks tickets and the access policy for every session, running
// sessions, bounded refusal auditing, the administrator's policy changes and the services
// sessions reach.
export { PolicyControl } from './policy-control.js';
export { SessionGate, type ActiveSession, type GateLimit } from './session-gate.js';
export { checkServiceHost, deleteService, putService, type ServiceTarget } from './services.js';
