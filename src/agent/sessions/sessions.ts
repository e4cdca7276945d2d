// Service sessions on the running agent: the gate every session stream goes through, the
// administrator's switches (remote service, access level) and policy changes, and the policy's
// store (one instance: it caches rules and the grant). Nothing runs until start(); close() ends
// every session and resolves once each end is written, so the store may close right after.

import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { TicketVerifier } from '../../pki/index.js';
import type { PolicyState } from '../../policy/index.js';
import type { AuditLog } from '../audit/index.js';
import type { AgentConfig } from '../config.js';
import type { AgentStore } from '../store/index.js';
import { PolicyControl, type PolicyNotice } from './policy-control.js';
import { PolicyStore } from './policy-store.js';
import { RemoteAccess } from './remote-access.js';
import { SessionGate, type GateEvent, type GateLimit } from './session-gate.js';

export interface SessionsDeps {
  stationId: string;
  verifier: TicketVerifier;
  store: AgentStore;
  audit: AuditLog;
  /** Remote service and access level as stored (storedPolicy). */
  policy: PolicyState;
  config: Pick<Readonly<AgentConfig>, 'sessions' | 'requests'>;
  clock: Clock;
  logger: Logger;
  /** Sessions and access requests, and the administrator's answers: for the webhook. */
  notify: (type: GateEvent['type'] | Parameters<PolicyNotice>[0], data: Record<string, unknown>) => void;
  /** A session ended: the tunnel may move back to the preferred hub endpoint. */
  onSessionEnded: () => void;
  /** An attempt was refused by one of the gate's bounds (for /metrics). */
  onLimitRefused: (limit: GateLimit) => void;
}

export class Sessions {
  readonly policyStore: PolicyStore;
  readonly gate: SessionGate;
  readonly control: PolicyControl;
  readonly access: RemoteAccess;

  constructor(deps: SessionsDeps) {
    const { config, audit } = deps;
    this.policyStore = new PolicyStore(deps.store.db);
    this.gate = new SessionGate({
      stationId: deps.stationId,
      verifier: deps.verifier,
      store: deps.store,
      policyStore: this.policyStore,
      audit,
      policy: () => this.access.policy,
      clock: deps.clock,
      logger: deps.logger,
      maxConcurrent: config.sessions.maxConcurrent,
      targetConnectTimeoutMs: config.sessions.targetConnectTimeout,
      maxDurationMs: config.sessions.maxDuration,
      idleTimeoutMs: config.sessions.idleTimeout,
      requestTtlMs: config.requests.pendingTtl,
      flood: {
        intervalMs: config.sessions.attemptInterval,
        maxAttemptsPerTechnician: config.sessions.maxAttemptsPerTechnician,
        refusalsAuditedPerTechnician: config.sessions.refusalsAuditedPerTechnician,
      },
      maxPendingRequests: config.requests.maxPending,
      onLimitRefused: deps.onLimitRefused,
      onEvent: (event) => {
        deps.notify(event.type, event.data);
        if (event.type === 'session.ended') deps.onSessionEnded();
      },
    });
    // Fail closed: an audit entry that cannot be written ends every session.
    audit.onFailure = () => this.gate.stopAll('audit-failure');
    this.access = new RemoteAccess({ store: deps.store, audit, gate: this.gate, policy: deps.policy });
    this.control = new PolicyControl({
      store: deps.store,
      policyStore: this.policyStore,
      audit,
      gate: this.gate,
      clock: deps.clock,
      rejectionHoldMs: config.requests.rejectionHold,
      notify: deps.notify,
    });
  }

  /** Sessions may run: the once-a-second re-check of running sessions starts. */
  start(): void {
    this.gate.startSweeping();
  }

  /** Ends every session (agent-shutdown) and resolves once each end is written. Idempotent. */
  close(): Promise<void> {
    return this.gate.close();
  }
}
