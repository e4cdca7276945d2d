// The hub store in SQL (kysely): one schema, one migration list, one set of queries for every SQL
// database the hub runs on.
export { SqlHubStore } from './sql-hub-store.js';
export type { HubDatabase } from './schema.js';
export { hubMigrations, hubMigrationsByName } from './migrations.js';
export type { HubAttachment, HubAttachmentStore } from './attachments.js';
export type { HubCertSerialStore } from './cert-serials.js';
export type { HubDataRequest, HubDataRequestStore } from './data-requests.js';
export type { FixRecord, HubFixStore } from './fixes.js';
export type { IngestItem, ProblemRecord, StoredReport, HubReportStore } from './reports.js';
export type { HubRetentionStore } from './retention.js';
export type { HubStationHealthStore, StationHealth } from './station-health.js';
export type { HubTrustStore } from './trust.js';
export type { AuthMethod, HubUserSecurityStore } from './user-security.js';
