// The agent's Prometheus metrics, served on the admin API (GET /metrics, admin credential).
// Counters come from the audit log (every refusal is audited with a code) and the outbox's delivery
// events; gauges are read from live state when scraped.

import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Clock } from '../common/clock.js';

export interface AgentMetricsSources {
  clock: Clock;
  /** 'connected' when the tunnel is up (TunnelClient status). */
  tunnelState: () => string;
  activeSessions: () => number;
  /** Reports waiting in the outbox, by state; undefined before the outbox exists. */
  outboxCounts: () => Promise<{ pending: number; held: number } | undefined>;
}

/** Label values come from audit details and report kinds: keep them to a short vocabulary. */
const codePattern = /^[A-Z][A-Z0-9_]{0,63}$/;
const kindPattern = /^[a-z][a-z0-9.-]{0,31}$/;

export class AgentMetrics {
  readonly registry = new Registry();
  readonly #clock: Clock;
  readonly #sessionsTotal: Counter;
  readonly #refusals: Counter<'kind' | 'reason'>;
  readonly #uploadBytes: Counter;
  readonly #reportsSent: Counter<'kind'>;
  /** The last heartbeat the hub acknowledged; the agent's start until the first one. */
  #lastHeartbeatSentAtMs: number;

  constructor(sources: AgentMetricsSources) {
    const registers = [this.registry];
    this.#clock = sources.clock;
    this.#lastHeartbeatSentAtMs = sources.clock.now();
    const lastHeartbeat = () => this.#lastHeartbeatSentAtMs;
    collectDefaultMetrics({ register: this.registry, prefix: 'lifeline_agent_' });
    new Gauge({
      name: 'lifeline_agent_tunnel_connected',
      help: '1 when the tunnel to the hub is connected, else 0.',
      registers,
      collect() {
        this.set(sources.tunnelState() === 'connected' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'lifeline_agent_sessions_active',
      help: 'Technician sessions running now.',
      registers,
      collect() {
        this.set(sources.activeSessions());
      },
    });
    this.#sessionsTotal = new Counter({
      name: 'lifeline_agent_sessions_total',
      help: 'Technician sessions started since the agent started.',
      registers,
    });
    this.#refusals = new Counter({
      name: 'lifeline_agent_refusals_total',
      help: 'Refusals since the agent started, by what was refused (session, ...) and error code.',
      labelNames: ['kind', 'reason'],
      registers,
    });
    new Gauge({
      name: 'lifeline_agent_outbox_depth',
      help: 'Call-home reports not yet delivered, by state (pending: to send; held: awaiting review).',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await sources.outboxCounts();
        this.set({ state: 'pending' }, counts?.pending ?? 0);
        this.set({ state: 'held' }, counts?.held ?? 0);
      },
    });
    new Gauge({
      name: 'lifeline_agent_heartbeat_age_seconds',
      help: 'Seconds since the hub last acknowledged a heartbeat (since the agent started, before the first).',
      registers,
      collect() {
        this.set(Math.max(0, sources.clock.now() - lastHeartbeat()) / 1000);
      },
    });
    this.#reportsSent = new Counter({
      name: 'lifeline_agent_reports_sent_total',
      help: 'Call-home reports delivered to the hub since the agent started, by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.#uploadBytes = new Counter({
      name: 'lifeline_agent_upload_bytes_total',
      help: 'Bytes of extended error data (attachments) delivered to the hub since the agent started.',
      registers,
    });
  }

  /** Sees every audit entry once written (AuditLog.onEntry). */
  observeAudit(entry: { action: string; detail: Readonly<Record<string, unknown>> }): void {
    const { action, detail } = entry;
    if (action === 'session.start') this.#sessionsTotal.inc();
    else if (action === 'callhome.attachment-sent' && typeof detail.bytes === 'number' && detail.bytes >= 0)
      this.#uploadBytes.inc(detail.bytes);
    else if (action.endsWith('.refused')) {
      const kind = action.slice(0, -'.refused'.length);
      this.#refusals.inc({
        kind: kindPattern.test(kind) ? kind : 'other',
        reason: typeof detail.code === 'string' && codePattern.test(detail.code) ? detail.code : 'OTHER',
      });
    }
  }

  /** Sees every outbox delivery outcome (Outbox 'attempt'). */
  observeDelivery(event: { type: string; kind?: string }): void {
    if (event.type !== 'sent' || event.kind === undefined) return;
    this.#reportsSent.inc({ kind: kindPattern.test(event.kind) ? event.kind : 'other' });
    if (event.kind === 'heartbeat') this.#lastHeartbeatSentAtMs = this.#clock.now();
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
