// The agent's Prometheus metrics, served on the admin API (GET /metrics, admin credential).
// Counters come from the audit log (every refusal is audited with a code) and the outbox's delivery
// events; gauges are read from live state when scraped.

import type { Counter } from 'prom-client';
import type { Clock } from '../../common/clock.js';
import { kindLabel, MetricsRegistry } from '../../common/metrics-registry.js';
import type { ConnectionGuardStats } from '../../common/net/index.js';
import type { GateLimit } from '../sessions/index.js';

export interface AgentMetricsSources {
  clock: Clock;
  /** 'connected' when the tunnel is up (TunnelClient status). */
  tunnelState: () => string;
  activeSessions: () => number;
  /** Reports waiting in the outbox, by state; undefined before the outbox exists. */
  outboxCounts: () => Promise<{ pending: number; held: number } | undefined>;
  /** The admin API's connection guard (common/connection-guard.ts). */
  connectionStats?: (() => ConnectionGuardStats) | undefined;
  /** True while the data directory's disk is full (StoreSpace). */
  storeFull?: () => boolean;
}

export class AgentMetrics {
  readonly #metrics = new MetricsRegistry('lifeline_agent_', 'agent');
  readonly #clock: Clock;
  readonly #sessionsTotal: Counter;
  readonly #uploadBytes: Counter;
  readonly #reportsSent: Counter<'kind'>;
  readonly #limitRefusals: Counter<'limit'>;
  /** The last heartbeat the hub acknowledged; the agent's start until the first one. */
  #lastHeartbeatSentAtMs: number;

  constructor(sources: AgentMetricsSources) {
    const metrics = this.#metrics;
    this.#clock = sources.clock;
    this.#lastHeartbeatSentAtMs = sources.clock.now();
    metrics.gauge('tunnel_connected', '1 when the tunnel to the hub is connected, else 0.', () =>
      sources.tunnelState() === 'connected' ? 1 : 0,
    );
    metrics.gauge('sessions_active', 'Technician sessions running now.', sources.activeSessions);
    metrics.gauge(
      'store_full',
      '1 while the data directory has no room (new reports and attachments refused with STORE_FULL), else 0.',
      () => (sources.storeFull?.() ? 1 : 0),
    );
    this.#sessionsTotal = metrics.counter(
      'sessions_total',
      'Technician sessions started since the agent started.',
    );
    metrics.labeledGauge(
      'outbox_depth',
      'Call-home reports not yet delivered, by state (pending: to send; held: awaiting review).',
      ['state'],
      async (gauge) => {
        const counts = await sources.outboxCounts();
        gauge.set({ state: 'pending' }, counts?.pending ?? 0);
        gauge.set({ state: 'held' }, counts?.held ?? 0);
      },
    );
    metrics.gauge(
      'heartbeat_age_seconds',
      'Seconds since the hub last acknowledged a heartbeat (since the agent started, before the first).',
      () => Math.max(0, sources.clock.now() - this.#lastHeartbeatSentAtMs) / 1000,
    );
    const connectionStats = sources.connectionStats;
    if (connectionStats) metrics.connectionGuards(() => [{ listener: 'admin', ...connectionStats() }]);
    this.#reportsSent = metrics.counter(
      'reports_sent_total',
      'Call-home reports delivered to the hub since the agent started, by kind.',
      ['kind'],
    );
    this.#uploadBytes = metrics.counter(
      'upload_bytes_total',
      'Bytes of extended error data (attachments) delivered to the hub since the agent started.',
    );
    this.#limitRefusals = metrics.counter(
      'limit_refusals_total',
      'Session attempts refused since the agent started because a bound was reached (agent.yaml sessions.maxAttemptsPerTechnician: session-attempts; requests.maxPending: access-requests), by limit.',
      ['limit'],
    );
  }

  /** A session attempt was refused by one of the gate's bounds (a closed set). */
  observeLimitRefusal(limit: GateLimit): void {
    if (limit === 'session-attempts' || limit === 'access-requests') this.#limitRefusals.inc({ limit });
  }

  /** Sees every audit entry once written (AuditLog.onEntry). */
  observeAudit(entry: { action: string; detail: Readonly<Record<string, unknown>> }): void {
    const { action, detail } = entry;
    if (action === 'session.start') this.#sessionsTotal.inc();
    else if (action === 'callhome.attachment-sent' && typeof detail.bytes === 'number' && detail.bytes >= 0)
      this.#uploadBytes.inc(detail.bytes);
    else if (action === 'session.refused-summary') this.#metrics.observeRefusalSummary('session', detail);
    else this.#metrics.observeRefusal(action, detail);
  }

  /** Sees every outbox delivery outcome (Outbox 'attempt'). */
  observeDelivery(event: { type: string; kind?: string }): void {
    if (event.type !== 'sent' || event.kind === undefined) return;
    this.#reportsSent.inc({ kind: kindLabel(event.kind) });
    if (event.kind === 'heartbeat') this.#lastHeartbeatSentAtMs = this.#clock.now();
  }

  render(): Promise<string> {
    return this.#metrics.render();
  }

  get contentType(): string {
    return this.#metrics.contentType;
  }
}
