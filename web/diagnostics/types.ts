// What the agent's admin API answers, as the Diagnostics page reads it (see src/agent/*-routes.ts).
// Fields added by newer agents are optional here, so the page shows "—" rather than breaking.

import type { StoreFullCondition } from '../shared/store-full.js';

export interface TunnelStatus {
  state: 'disabled' | 'connecting' | 'connected' | 'waiting';
  sinceMs: number;
  endpoint: string | null;
  lastError: string | null;
  nextAttemptAtMs: number | null;
}

export interface HubEndpointStatus {
  endpoint: string;
  state: string;
  via: 'proxy' | 'direct';
  lastError: string | null;
  sinceMs: number | null;
}

export interface AgentStatus {
  stationId: string;
  hub: string;
  remoteEnabled: boolean;
  accessLevel: 'full' | 'restricted' | 'none';
  tunnel: TunnelStatus;
  activeSessions: number;
  pendingRequests: number;
  auditHealthy: boolean;
  /** Absent from agents older than the store-full condition. */
  storeFull?: StoreFullCondition | null;
  oneTimeGrant: Grant | null;
  mfa: 'required' | 'optional';
  proxy: {
    url: string;
    username: string | null;
    lastError: string | null;
    lastErrorCode: string | null;
  } | null;
  hubEndpoints: HubEndpointStatus[];
  certificate: {
    state: string;
    notAfterMs: number;
    renewAtMs: number | null;
    lastError: string | null;
    summary: string;
  } | null;
  lastCallHome: { atMs: number; kind: string; status: number } | null;
}

export interface AccessRequest {
  id: string;
  technician: string;
  technicianName: string;
  groups: string[];
  service: string;
  reason: string | null;
  firstAtMs: number;
  lastAtMs: number;
  attempts: number;
  status: 'pending' | 'accepted' | 'rejected' | 'expired';
  expiresAtMs: number;
}

export interface AclRule {
  id: string;
  effect: 'allow' | 'deny';
  technician: string | null;
  group: string | null;
  services: string[] | null;
  notBeforeMs: number | null;
  notAfterMs: number | null;
  note: string | null;
  createdBy: string;
  createdAtMs: number;
}

export interface Grant {
  id: string;
  technician: string | null;
  services: string[] | null;
  notAfterMs: number;
  usedAtMs: number | null;
}

export interface ActiveSession {
  id: string;
  technician: string;
  technicianName: string;
  service: string;
  reason: string | null;
  startedAtMs: number;
  lastActivityMs: number;
  bytesIn: number;
  bytesOut: number;
}

export interface SessionRecord {
  id: string;
  technician: string;
  technicianName: string;
  service: string;
  startedAtMs: number;
  endedAtMs: number | null;
  endReason: string | null;
  bytesIn: number;
  bytesOut: number;
}

export interface AuditEntry {
  seq: number;
  atMs: number;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
  hash: string;
}

export interface AuditReport {
  ok: boolean;
  count: number;
  headHash: string | null;
  firstBad: { seq: number; problem?: string; reason?: string } | null;
  hub:
    | { compared: true; ok: boolean; checkpointCount: number; checkpointAtMs: number; message: string | null }
    | { compared: false; reason: string };
}

export interface Problem {
  localId: string;
  summary: string;
  severity: string;
  referenceCode: string | null;
  state: string;
  openedAtMs: number;
  updatedAtMs: number;
  occurrences: number;
  vendorNumber: string | null;
  openReportState: string | null;
}

export interface Attachment {
  id: string;
  problemLocalId: string;
  name: string;
  bytes: number;
  ackedBytes: number;
  state: string;
  lastError: string | null;
}

export interface OutboxItem {
  id: string;
  kind: string;
  createdAtMs: number;
  bytes: number;
  sha256: string;
  state: string;
  attempts: number;
  nextAttemptAtMs: number;
  lastError: string | null;
}

export interface Transmission {
  seq: number;
  reportId: string;
  atMs: number;
  kind: string;
  bytes: number;
  sha256: string;
  status: number;
}

export interface CallHomeStep {
  step: string;
  endpoint?: string;
  status: 'ok' | 'failed' | 'skipped';
  durationMs: number;
  detail?: string;
  reason?: string;
}

export interface CallHomeTestReport {
  ok: boolean;
  atMs: number;
  steps: CallHomeStep[];
}

export interface PerformanceSample {
  atMs: number;
  spanMs: number;
  cpu?: { utilizationPct: number };
  memory?: { usedBytes: number; totalBytes: number };
  network?: { name: string; rxBytesPerSec: number; txBytesPerSec: number }[];
  disks?: { name: string; readBytesPerSec: number; writeBytesPerSec: number }[];
}
