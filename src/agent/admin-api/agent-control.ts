// What the admin API may ask of the running agent, and the status it reports: the one surface
// between the routes and the composition root.

import type { StoreFullCondition } from '../../common/disk/index.js';
import type { AccessLevel } from '../../policy/index.js';
import type { AuditEntry } from '../../protocol/index.js';
import type { AgentSessionRecord } from '../store/index.js';
import type { RefusalCount, StoredGrant } from '../sessions/index.js';
import type { AuditReport } from '../audit/index.js';
import type { CertificateStatus } from '../identity/index.js';
import type { CollectorControl } from './collector-routes.js';
import type { DataRequestDesk } from '../data-requests/index.js';
import type { EndpointStatus, ProxyStatus } from '../link/index.js';
import type { FixControl } from './fix-routes.js';
import type { ServiceControl } from './service-routes.js';
import type { Outbox } from '../callhome/index.js';
import type { PolicyControl } from '../sessions/index.js';
import type { ProblemDesk } from '../callhome/index.js';
import type { ActiveSession } from '../sessions/index.js';
import type { TunnelStatus } from '../link/index.js';
import type { Uploader } from '../attachments/index.js';

export interface AgentStatus {
  stationId: string;
  hub: string;
  remoteEnabled: boolean;
  accessLevel: AccessLevel;
  /** Whether every session must come from a login with TOTP (`lifeline agent mfa`). */
  mfa: 'required' | 'optional';
  tunnel: TunnelStatus;
  /** The station certificate: expiry, renewal, or what the administrator must do. */
  certificate: CertificateStatus | null;
  /** Every hub endpoint in order of preference: the one in use, and why the others are not. */
  hubEndpoints: EndpointStatus[];
  /** The HTTP proxy in force (never with its password) and its last error; null without one. */
  proxy: ProxyStatus | null;
  /** The last transmission the hub accepted (2xx); null before the first. */
  lastCallHome: { atMs: number; kind: string; status: number } | null;
  activeSessions: number;
  pendingRequests: number;
  auditHealthy: boolean;
  /**
   * The data directory's disk is full (or agent.db at its size limit): new reports and attachments
   * are refused with STORE_FULL until there is room. Null when there is room.
   */
  storeFull: StoreFullCondition | null;
  oneTimeGrant: StoredGrant | null;
}

/** What the admin API may do with the agent. */
export interface AgentControl extends FixControl, CollectorControl, ServiceControl {
  readonly policyControl: PolicyControl;
  readonly outbox: Outbox;
  readonly problems: ProblemDesk;
  readonly uploader: Uploader;
  readonly dataRequests: DataRequestDesk;
  status(): Promise<AgentStatus>;
  refusals(): Promise<RefusalCount[]>;
  setRemote(enabled: boolean, actor: string): Promise<void>;
  setAccessLevel(level: AccessLevel, actor: string): Promise<void>;
  sessions(): ActiveSession[];
  recentSessions(): Promise<AgentSessionRecord[]>;
  stopSession(id: string, actor: string): Promise<void>;
  stopAll(actor: string): Promise<number>;
  audit(options: { sinceMs?: number | undefined; limit?: number | undefined }): Promise<AuditEntry[]>;
  verifyAudit(): Promise<AuditReport>;
  pauseCallHome(untilMs: number | null, actor: string): Promise<void>;
}
