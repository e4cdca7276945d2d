// agent.db: settings, services, ticket nonces, sessions, audit entries, the access policy, the
// outbox, problems, attachments and data requests (SQLite, on the appliance).
export {
  AgentStore,
  settingKeys,
  type AgentSessionRecord,
  type AuditWith,
  type SettingWrite,
  type ServiceRecord,
} from './agent-store.js';
export type { AttachmentRecord, AttachmentStore } from './attachment-store.js';
export type { AgentDataRequest, AgentDataRequestStore } from './data-request-store.js';
export {
  OutboxStore,
  outboxMigrations,
  type AlsoWrite,
  type OutboxCounts,
  type OutboxItem,
  type OutboxState,
  type OutboxTables,
  type Settlement,
  type Transmission,
} from './outbox-store.js';
export {
  newPolicyId,
  requestStatuses,
  type AccessRequest,
  type RefusalCount,
  type RequestStatus,
  type StoredGrant,
  type StoredRule,
} from './policy-store.js';
export type { LocalProblem, ProblemStore, ProblemTables } from './problem-store.js';
