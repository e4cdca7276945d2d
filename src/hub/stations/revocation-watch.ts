// Acts on `lifeline hub station revoke` within a second: the command writes the store (the hub may be
// another process, or several nodes share the store), so each running hub looks every 500 ms for
// stations revoked since its last look and closes their tunnels and call-home connections.

import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { HubStore } from '../store/index.js';

export interface StationCloser {
  /** Closes the station's tunnel and call-home connections; how many were closed. */
  closeStation(stationId: string, reason: string): number;
}

/** Revocations written by another process with a clock a little behind ours are still seen. */
const clockSlackMs = 60_000;

export class RevocationWatch {
  readonly #store: HubStore;
  readonly #closer: StationCloser;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #handled = new Set<string>();
  #sinceMs: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(options: {
    store: HubStore;
    closer: StationCloser;
    clock: Clock;
    logger: Logger;
    intervalMs?: number;
  }) {
    this.#store = options.store;
    this.#closer = options.closer;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#intervalMs = options.intervalMs ?? 500;
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      this.#running ??= this.check()
        .then(() => undefined)
        .catch((err: unknown) => this.#logger.warn({ err }, 'looking for revoked stations failed'))
        .finally(() => (this.#running = undefined));
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** One look: closes the connections of every station revoked since the last; returns their IDs. */
  async check(): Promise<string[]> {
    const lookAtMs = this.#clock.now();
    const revoked = await this.#store.trust.listRevoked(this.#sinceMs);
    const closedNow: string[] = [];
    for (const { id } of revoked) {
      if (this.#handled.has(id)) continue;
      this.#handled.add(id);
      const connections = this.#closer.closeStation(id, 'this station is revoked');
      if (connections > 0) {
        this.#logger.info({ stationId: id, connections }, 'revoked station disconnected');
      }
      closedNow.push(id);
    }
    this.#sinceMs = lookAtMs - clockSlackMs;
    return closedNow;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
