// Storage: the hub's store interface with its implementations, and the agent's store.
export type * from './hub-store.js';
export { openSqliteHubStore } from './sqlite/hub.js';
export { KyselyHubStore } from './kysely-hub-store.js';
export { AgentStore, auditEntryHash, genesisHash } from './agent-store.js';
export type { AuditEntry, AuditWith, ServiceRecord, AgentSessionRecord } from './agent-store.js';
export { PolicyStore, newPolicyId, requestStatuses } from './policy-store.js';
export type { AccessRequest, RefusalCount, RequestStatus, StoredGrant, StoredRule } from './policy-store.js';
export { OutboxStore, outboxMigrations, sha256Hex } from './outbox-store.js';
export type { OutboxItem, OutboxState, Transmission } from './outbox-store.js';
export { HubReportStore, hubReportMigrations } from './hub-reports.js';
export type { ProblemRecord, StoredReport } from './hub-reports.js';
