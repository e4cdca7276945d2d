// What the hub keeps: the HubStore interface and its SQLite implementation.
export type {
  AuthMethod,
  FixRecord,
  HubAttachment,
  HubCertSerialStore,
  HubDataRequest,
  IngestItem,
  ProblemRecord,
  StationHealth,
  StoredReport,
} from './sql/index.js';
export type { HubAuditEntry, HubStore, StationRecord, TunnelChange, UserRecord } from './hub-store.js';
export { openSqliteHubStore } from './sqlite-hub-store.js';
