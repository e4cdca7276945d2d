// Service sessions: the gate that checks tickets and the access policy for every session, running
// sessions, bounded refusal auditing, and the administrator's policy changes.
export { PolicyControl } from './policy-control.js';
export { SessionGate, type ActiveSession, type GateLimit } from './session-gate.js';
