// agent.db (SQLite, on the appliance): opening it, its one schema and migration list, and the
// database's own core (settings, services, ticket nonces, sessions, the audit chain). The
// features keep their tables' invariants in their own stores on the same Kysely<AgentDatabase>.
export {
  AgentStore,
  openAgentDatabase,
  settingKeys,
  type AgentSessionRecord,
  type AuditWith,
  type SettingWrite,
  type ServiceRecord,
} from './agent-store.js';
export {
  attachmentStates,
  outboxStates,
  problemStates,
  type AgentDatabase,
  type AttachmentUploadState,
  type DataRequestState,
  type OutboxState,
  type ProblemState,
  type TransmissionKind,
} from './database.js';
