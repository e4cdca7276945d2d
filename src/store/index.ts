// Storage: the hub's store interface with its implementations, and the agent's store.
export type * from './hub-store.js';
export { openSqliteHubStore } from './sqlite/hub.js';
export { KyselyHubStore } from './kysely-hub-store.js';
export { AgentStore, settingKeys } from './agent-store.js';
export type { AuditWith, ServiceRecord, AgentSessionRecord } from './agent-store.js';
export { PolicyStore, newPolicyId, requestStatuses } from './policy-store.js';
export type { AccessRequest, RefusalCount, RequestStatus, StoredGrant, StoredRule } from './policy-store.js';
export { OutboxStore, outboxMigrations, sha256Hex } from './outbox-store.js';
export type { OutboxItem, OutboxState, OutboxTables, Transmission } from './outbox-store.js';
export { ProblemStore, problemMigrations, problemStates } from './problem-store.js';
export type { LocalProblem, ProblemState, ProblemTables } from './problem-store.js';
export { HubReportStore, hubReportMigrations, type IngestItem } from './hub-reports.js';
export type { ProblemRecord, StoredReport } from './hub-reports.js';
export { HubAttachmentStore, hubAttachmentMigrations, hubAttachmentStates } from './hub-attachments.js';
export type {
  HubAttachment,
  HubAttachmentState,
  PendingUploads,
  UploadAdmission,
} from './hub-attachments.js';
export { HubRetentionStore, hubRetentionMigrations } from './hub-retention.js';
export type { AgingReportKind } from './hub-retention.js';
export { HubDataRequestStore, hubDataRequestMigrations, dataRequestIdPattern } from './hub-data-requests.js';
export type { HubDataRequest, StationDataRequest, DataRequestState } from './hub-data-requests.js';
export { AgentDataRequestStore, agentDataRequestMigrations } from './agent-data-requests.js';
export type { AgentDataRequest, AgentDataRequestState } from './agent-data-requests.js';
export { HubFixStore, hubFixMigrations } from './hub-fixes.js';
export type { FixRecord } from './hub-fixes.js';
export { HubStationHealthStore, hubStationHealthMigrations } from './hub-station-health.js';
export type { StationHealth, StoredInventory, StoredSample } from './hub-station-health.js';
export { HubTrustStore, hubTrustMigrations } from './hub-trust.js';
export { HubCertSerialStore, hubCertSerialMigrations } from './hub-cert-serials.js';
export { HubUserSecurityStore, hubUserSecurityMigrations } from './hub-user-security.js';
export type { AuthMethod, TokenWithStrength, TotpEnrollment } from './hub-user-security.js';
