// What the hub keeps: the HubStore interface, its parts, and its SQLite and PostgreSQL implementations.
export type {
  AuditCheckpointRecord,
  EnrollmentTokenRecord,
  HubAuditEntry,
  HubSessionRecord,
  HubStore,
  StationRecord,
  TokenUse,
  TunnelChange,
  UserRecord,
} from './hub-store.js';
export {
  nodeLeaseMs,
  type ClusterRecord,
  type HubClusterStore,
  type HubNodeRecord,
  type HubNodeState,
} from './cluster.js';
export type { HubAttachment, HubAttachmentStore, PendingUploads, UploadAdmission } from './attachments.js';
export type { HubDataRequest, HubDataRequestStore, StationDataRequest } from './data-requests.js';
export type { FixRecord, HubFixStore } from './fixes.js';
export type { HubReportStore, IngestAnswer, IngestItem, ProblemRecord, StoredReport } from './reports.js';
export type { AgingReportKind, HubRetentionStore, PurgeAudit } from './retention.js';
export type {
  HubStationHealthStore,
  StationHealth,
  StoredInventory,
  StoredSample,
} from './station-health.js';
export type { HubCertSerialStore, HubTrustStore, IssuedCertRecord } from './trust.js';
export type { ApiTokenRecord, AuthMethod, HubUserSecurityStore, TotpEnrollment } from './user-security.js';
export { openSqliteHubStore } from './sqlite-hub-store.js';
export {
  describePostgresUrl,
  openPostgresHubStore,
  type PostgresStoreOptions,
} from './postgres-hub-store.js';
export { openHubStore, type OpenHubStoreOptions } from './open-hub-store.js';
export { storePassword, storePasswordEnv, type StoreConfig } from './store-config.js';
