// The hub's audit trail: logins, enrollments, tunnels and sessions, in the store and the log.

import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import type { HubAuditEntry, HubStore } from '../store/index.js';

export class HubAudit {
  readonly #store: HubStore;
  readonly #clock: Clock;
  readonly #logger: Logger;

  constructor(store: HubStore, clock: Clock, logger: Logger) {
    this.#store = store;
    this.#clock = clock;
    this.#logger = logger;
  }

  /** An entry to write together with other records (the store takes it in one transaction). */
  entry(
    actor: string,
    action: string,
    stationId: string | null,
    detail: Record<string, unknown> = {},
  ): Omit<HubAuditEntry, 'seq'> {
    this.#logger.info({ audit: { actor, action, stationId, ...detail } }, action);
    return { atMs: this.#clock.now(), actor, action, stationId, detail };
  }

  async record(
    actor: string,
    action: string,
    stationId: string | null,
    detail: Record<string, unknown> = {},
  ): Promise<void> {
    this.#logger.info({ audit: { actor, action, stationId, ...detail } }, action);
    await this.#store.appendAudit({ atMs: this.#clock.now(), actor, action, stationId, detail });
  }
}
