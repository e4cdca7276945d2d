// What the hub keeps: the HubStore interface and its SQLite implementation.
export type { HubAttachment } from './attachments.js';
export type { HubCertSerialStore } from './cert-serials.js';
export type { HubDataRequest } from './data-requests.js';
export type { FixRecord } from './fixes.js';
export type { HubAuditEntry, HubStore, StationRecord, TunnelChange, UserRecord } from './hub-store.js';
export type { IngestItem, ProblemRecord, StoredReport } from './reports.js';
export { openSqliteHubStore } from './sqlite-hub-store.js';
export type { StationHealth } from './station-health.js';
export type { AuthMethod } from './user-security.js';
