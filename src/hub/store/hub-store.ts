// What the hub keeps, as an interface: one SQLite file (sqlite-hub-store.ts) or a PostgreSQL
// database shared by several hub nodes (postgres-hub-store.ts), both held to the same tests
// (contract/). Times are milliseconds since the epoch.

import type { HubAttachmentStore } from './attachments.js';
import type { HubClusterStore } from './cluster.js';
import type { HubDataRequestStore } from './data-requests.js';
import type { HubFixStore } from './fixes.js';
import type { HubReportStore } from './reports.js';
import type { HubRetentionStore } from './retention.js';
import type { HubStationHealthStore } from './station-health.js';
import type { HubCertSerialStore, HubTrustStore } from './trust.js';
import type { HubUserSecurityStore } from './user-security.js';

export interface StationRecord {
  id: string;
  name: string;
  enrolledAtMs: number;
  certNotAfterMs: number;
  lastSeenAtMs: number | null;
  connectedSinceMs: number | null;
  revokedAtMs: number | null;
}

export interface EnrollmentTokenRecord {
  id: string;
  createdAtMs: number;
  expiresAtMs: number;
  usedAtMs: number | null;
  usedByStation: string | null;
}

export interface UserRecord {
  name: string;
  passwordHash: string;
  groups: string[];
  createdAtMs: number;
  disabledAtMs: number | null;
}

/** A station's tunnel connected to or disconnected from a node at `atMs`, with the audit entry. */
export interface TunnelChange {
  stationId: string;
  /** The hub node the tunnel came to or left. */
  nodeId: string;
  connected: boolean;
  atMs: number;
  audit: Omit<HubAuditEntry, 'seq'>;
}

export interface HubAuditEntry {
  seq: number;
  atMs: number;
  actor: string;
  action: string;
  stationId: string | null;
  detail: Record<string, unknown>;
}

export interface HubSessionRecord {
  id: string;
  stationId: string;
  userName: string;
  service: string;
  reason: string | null;
  startedAtMs: number;
  endedAtMs: number | null;
  endReason: string | null;
  bytesToStation: number;
  bytesFromStation: number;
}

export interface AuditCheckpointRecord {
  stationId: string;
  count: number;
  headHash: string;
  previousCount: number;
  previousHash: string;
  atMs: number;
  signature: string;
  receivedAtMs: number;
}

export type TokenUse = { ok: true } | { ok: false; why: 'unknown' | 'expired' | 'used' };

export interface HubStore {
  /** Call-home reports and the problem tickets they open. */
  readonly reports: HubReportStore;
  /** What retention removes, the counters it must not reset, and its last run. */
  readonly retention: HubRetentionStore;
  /** Support engineers' requests for more error data, and the appliances' answers. */
  readonly dataRequests: HubDataRequestStore;
  /** Extended error data: uploaded files attached to problems. */
  readonly attachments: HubAttachmentStore;
  /** The fix catalog: published fixes and their signed statements. */
  readonly fixes: HubFixStore;
  /** Heartbeats and silence of stations; their latest inventory and performance samples. */
  readonly health: HubStationHealthStore;
  /** Certificate lifecycle: revocation and renewal of stations. */
  readonly trust: HubTrustStore;
  /** Serials of issued station certificates, for the CA's CRL. */
  readonly certSerials: HubCertSerialStore;
  /** Technician identity: TOTP enrollment, token strength, disabling users. */
  readonly userSecurity: HubUserSecurityStore;
  /** The cluster of hub nodes sharing this store: its sealed files, nodes, who holds which tunnel. */
  readonly cluster: HubClusterStore;

  addEnrollmentToken(record: EnrollmentTokenRecord): Promise<void>;
  /** Marks the token used by `stationId` if it is valid at nowMs; atomic, so a token is used once. */
  useEnrollmentToken(id: string, stationId: string, nowMs: number): Promise<TokenUse>;

  addStation(station: StationRecord): Promise<void>;
  getStation(id: string): Promise<StationRecord | undefined>;
  listStations(): Promise<StationRecord[]>;
  /** At a node's start and stop: no station is connected to the node `nodeId`. */
  clearConnections(nowMs: number, nodeId: string): Promise<void>;
  /**
   * Tunnels that came and went, in order, with their audit entries, in one transaction: a
   * reconnect storm costs one commit per batch instead of two per tunnel. A disconnect from a
   * node leaves a station connected to another node (it reconnected there first) as it is.
   */
  recordTunnelChanges(changes: readonly TunnelChange[]): Promise<void>;

  addUser(user: UserRecord): Promise<void>;
  getUser(name: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;

  appendAudit(entry: Omit<HubAuditEntry, 'seq'>): Promise<void>;
  listAudit(options?: { sinceMs?: number; limit?: number }): Promise<HubAuditEntry[]>;

  /** Records a session's start, and its audit entry in the same transaction when given. */
  recordSessionStart(session: HubSessionRecord, audit?: Omit<HubAuditEntry, 'seq'>): Promise<void>;
  recordSessionEnd(
    id: string,
    end: { endedAtMs: number; endReason: string; bytesToStation: number; bytesFromStation: number },
    audit?: Omit<HubAuditEntry, 'seq'>,
  ): Promise<void>;
  listSessions(options?: { activeOnly?: boolean; limit?: number }): Promise<HubSessionRecord[]>;

  /** Keeps a station's audit checkpoint; a second one for the same count is ignored. */
  addAuditCheckpoint(checkpoint: AuditCheckpointRecord): Promise<void>;
  latestAuditCheckpoint(stationId: string): Promise<AuditCheckpointRecord | undefined>;

  close(): Promise<void>;
}
