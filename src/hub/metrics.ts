// The hub's Prometheus metrics and its two operations endpoints on the technician API: GET /health
// for load balancers (no credential, no detail) and GET /metrics for a scraper holding the scrape
// token from the data directory. Counters come from the audit stream (every refusal is audited with
// a code); gauges are read from live state when scraped.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { FastifyInstance, RawServerBase } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Clock } from '../common/clock.js';
import { LifelineError } from '../common/errors.js';
import { writePrivateFile } from '../common/files.js';

export interface HubMetricsSources {
  clock: Clock;
  /** Tunnels connected to this hub node now. */
  tunnels: () => number;
  /** Sessions relayed by this hub node now. */
  activeSessions: () => number;
  /** The tunnel admission's totals since start (admission.ts), when the hub has one. */
  admissionStats?: (() => { admitted: number; refused: number }) | undefined;
  /** The last heartbeat of every station that sent one (store.health). */
  stationHealth: () => Promise<
    readonly { stationId: string; lastHeartbeatAtMs: number; silentSinceMs: number | null }[]
  >;
}

/** Label values come from audit details: keep them to a closed, short vocabulary. */
const codePattern = /^[A-Z][A-Z0-9_]{0,63}$/;
const kindPattern = /^[a-z][a-z0-9-]{0,31}$/;

export class HubMetrics {
  readonly registry = new Registry();
  readonly #sessionsTotal: Counter;
  readonly #refusals: Counter<'kind' | 'reason'>;
  readonly #uploadBytes: Counter;
  readonly #tunnelConnections: Counter;
  readonly #reportsIngested: Counter<'kind'>;

  constructor(sources: HubMetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'lifeline_hub_' });
    new Gauge({
      name: 'lifeline_hub_tunnels_connected',
      help: 'Station tunnels connected to this hub node.',
      registers,
      collect() {
        this.set(sources.tunnels());
      },
    });
    this.#tunnelConnections = new Counter({
      name: 'lifeline_hub_tunnel_connections_total',
      help: 'Station tunnels accepted since the hub started.',
      registers,
    });
    new Gauge({
      name: 'lifeline_hub_sessions_active',
      help: 'Technician sessions relayed by this hub node now.',
      registers,
      collect() {
        this.set(sources.activeSessions());
      },
    });
    this.#sessionsTotal = new Counter({
      name: 'lifeline_hub_sessions_total',
      help: 'Technician sessions started (accepted by the agent) since the hub started.',
      registers,
    });
    this.#refusals = new Counter({
      name: 'lifeline_hub_refusals_total',
      help: 'Refusals since the hub started, by what was refused (session, tunnel, login, enroll, ...) and error code.',
      labelNames: ['kind', 'reason'],
      registers,
    });
    const admissionStats = sources.admissionStats;
    new Counter({
      name: 'lifeline_hub_admission_rejections_total',
      help: 'New tunnels told to retry later by the admission rate limit since the hub started.',
      registers,
      collect() {
        // The admission keeps the running total; the counter mirrors it.
        this.reset();
        this.inc(admissionStats?.().refused ?? 0);
      },
    });
    new Counter({
      name: 'lifeline_hub_admissions_total',
      help: 'New tunnels admitted by the admission rate limit since the hub started.',
      registers,
      collect() {
        this.reset();
        this.inc(admissionStats?.().admitted ?? 0);
      },
    });
    const heartbeatAge = new Gauge({
      name: 'lifeline_hub_heartbeat_age_seconds',
      help: 'Seconds since the last heartbeat of each station.',
      labelNames: ['station'],
      registers,
    });
    new Gauge({
      name: 'lifeline_hub_stations_silent',
      help: 'Stations the hub has declared silent (heartbeats stopped).',
      registers,
      async collect() {
        const health = await sources.stationHealth();
        const nowMs = sources.clock.now();
        // Stations that left the store (retention, revocation) leave the gauge too.
        heartbeatAge.reset();
        let silent = 0;
        for (const station of health) {
          heartbeatAge.set(
            { station: station.stationId },
            Math.max(0, nowMs - station.lastHeartbeatAtMs) / 1000,
          );
          if (station.silentSinceMs !== null) silent += 1;
        }
        this.set(silent);
      },
    });
    this.#reportsIngested = new Counter({
      name: 'lifeline_hub_reports_ingested_total',
      help: 'Call-home reports stored since the hub started (duplicates not counted), by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.#uploadBytes = new Counter({
      name: 'lifeline_hub_upload_bytes_total',
      help: 'Bytes of extended error data (attachments) received complete since the hub started.',
      registers,
    });
  }

  /** Sees every audit entry as it is decided (HubAudit.onRecord). */
  observeAudit(action: string, detail: Readonly<Record<string, unknown>>): void {
    if (action === 'session.start') this.#sessionsTotal.inc();
    else if (action === 'tunnel.connected') this.#tunnelConnections.inc();
    else if (action === 'attachment.received' && typeof detail.bytes === 'number' && detail.bytes >= 0)
      this.#uploadBytes.inc(detail.bytes);
    else if (action.endsWith('.refused')) {
      const kind = action.slice(0, -'.refused'.length);
      this.#refusals.inc({
        kind: kindPattern.test(kind) ? kind : 'other',
        reason: typeof detail.code === 'string' && codePattern.test(detail.code) ? detail.code : 'OTHER',
      });
    }
  }

  /** A report was stored (the call-home routes; kinds are the protocol's closed set). */
  observeReportStored(kind: string): void {
    this.#reportsIngested.inc({ kind: kindPattern.test(kind) ? kind : 'other' });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** The scrape token: made at `hub init` or the first start, 0600, read by Prometheus from a copy. */
export function ensureScrapeToken(path: string): string {
  if (!existsSync(path)) writePrivateFile(path, randomBytes(32).toString('base64url') + '\n');
  const token = readFileSync(path, 'utf8').trim();
  if (token.length < 16)
    throw new LifelineError(
      'CONFIG_INVALID',
      `${path}: the metrics scrape token must be at least 16 characters (delete the file to get a new one)`,
    );
  return token;
}

export interface HubOpsRoutesOptions {
  metrics: HubMetrics;
  scrapeToken: string;
  /** True when the hub can serve (its store answers). */
  healthy: () => Promise<boolean>;
}

const healthTimeoutMs = 2000;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** GET /health (open) and GET /metrics (scrape token) on the technician API. */
export function registerHubOpsRoutes<S extends RawServerBase>(
  app: FastifyInstance<S>,
  options: HubOpsRoutesOptions,
): void {
  const expected = digest(options.scrapeToken);
  // A load balancer needs only up or down: no version, no counts, nothing to fingerprint.
  app.get('/health', async (_request, reply) => {
    const ok = await withinTimeout(options.healthy(), healthTimeoutMs);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable' });
  });
  app.get('/metrics', async (request, reply) => {
    const auth = request.headers.authorization ?? '';
    const presented = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!presented || !timingSafeEqual(digest(presented), expected)) {
      void reply.header('www-authenticate', 'Bearer realm="lifeline-metrics"');
      throw new LifelineError(
        'AUTH_REQUIRED',
        '/metrics needs the scrape token from the hub data directory (metrics-token)',
      );
    }
    const body = await options.metrics.render();
    return reply.header('content-type', options.metrics.contentType).send(body);
  });
}

/** False when the check fails or does not answer in time (a wedged store is down). */
export async function withinTimeout(check: Promise<boolean>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([check.catch(() => false), late]);
  } finally {
    clearTimeout(timer);
  }
}
