// Silent stations: a station whose heartbeats stopped for about twice the interval it announced.
// The running hub checks on an interval (its clock injected) and writes `station.silent` once when a
// station turns silent and `station.heard` when its heartbeats come back.

import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { HubStore } from '../store/index.js';
import type { StationHealth } from '../store/index.js';
import type { HubAudit } from '../audit/index.js';

/** Two missed heartbeats, plus slack for a late delivery: up to 5 minutes, at most one interval. */
export function silentAfterMs(heartbeatIntervalMs: number): number {
  return 2 * heartbeatIntervalMs + Math.min(heartbeatIntervalMs, 300_000);
}

/** A station that never sent a heartbeat is not silent: nothing was promised. */
export function isSilent(
  health: Pick<StationHealth, 'lastHeartbeatAtMs' | 'heartbeatIntervalMs'> | undefined,
  nowMs: number,
): boolean {
  if (!health) return false;
  return nowMs - health.lastHeartbeatAtMs > silentAfterMs(health.heartbeatIntervalMs);
}

export class SilenceMonitor {
  readonly #store: HubStore;
  readonly #audit: HubAudit;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #checkEveryMs: number;
  readonly #nodeId: string;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;

  constructor(options: {
    store: HubStore;
    audit: HubAudit;
    clock: Clock;
    logger: Logger;
    /** This hub node: of a cluster's nodes, one checks per interval (HubClusterStore.takeTurn). */
    nodeId: string;
    checkEveryMs?: number;
  }) {
    this.#nodeId = options.nodeId;
    this.#store = options.store;
    this.#audit = options.audit;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#checkEveryMs = options.checkEveryMs ?? 30_000;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.#tick(), this.#checkEveryMs);
    this.#timer.unref();
    void this.#tick();
  }

  /**
   * The interval's check: in a cluster, the node whose turn it is checks and the others skip it.
   * The turn ends a little before the interval does, so the first node to look after it takes
   * the next one.
   */
  async #tick(): Promise<void> {
    const mine = await this.#store.cluster
      .takeTurn('station-silence', this.#nodeId, this.#clock.now(), Math.floor(this.#checkEveryMs * 0.9))
      .catch((err: unknown) => {
        this.#logger.warn({ err }, 'could not take the turn at the silent-station check');
        return false;
      });
    if (mine) await this.check();
  }

  /** One pass over every station: marks the newly silent and the heard again, each once. */
  check(): Promise<void> {
    this.#checking ??= this.#checkAll()
      .catch((err: unknown) => this.#logger.warn({ err }, 'silent-station check failed'))
      .finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#checking;
  }

  async #checkAll(): Promise<void> {
    const revoked = new Set(
      (await this.#store.listStations()).filter((s) => s.revokedAtMs !== null).map((s) => s.id),
    );
    for (const health of await this.#store.health.listHealth()) {
      // A revoked station is expected to fall silent: neither mark applies to it.
      if (revoked.has(health.stationId)) continue;
      const nowMs = this.#clock.now();
      const silent = isSilent(health, nowMs);
      if (silent && health.silentSinceMs === null) {
        if (await this.#store.health.markSilent(health.stationId, health.lastHeartbeatAtMs, nowMs))
          await this.#audit.record('hub', 'station.silent', health.stationId, {
            lastHeartbeatAt: new Date(health.lastHeartbeatAtMs).toISOString(),
            heartbeatIntervalMs: health.heartbeatIntervalMs,
          });
      } else if (!silent && health.silentSinceMs !== null) {
        if (await this.#store.health.markHeard(health.stationId))
          await this.#audit.record('hub', 'station.heard', health.stationId, {
            silentSince: new Date(health.silentSinceMs).toISOString(),
            lastHeartbeatAt: new Date(health.lastHeartbeatAtMs).toISOString(),
          });
      }
    }
  }
}
