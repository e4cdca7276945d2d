// Service sessions: the gate that checks tickets and the access policy for every session, running
// sessions, bounded refusal auditing, the administrator's policy changes, the policy's store and
// the services sessions reach.
export { PolicyControl } from './policy-control.js';
export {
  PolicyStore,
  newPolicyId,
  requestStatuses,
  type AccessRequest,
  type RefusalCount,
  type RequestStatus,
  type StoredGrant,
  type StoredRule,
} from './policy-store.js';
export { RemoteAccess, storedPolicy } from './remote-access.js';
export { SessionGate, type ActiveSession, type GateLimit } from './session-gate.js';
export { Sessions } from './sessions.js';
export { checkServiceHost, deleteService, putService, type ServiceTarget } from './services.js';
