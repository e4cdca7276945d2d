// The hub's audit trail: logins, enrollments, tunnels and sessions, in the store and the log.
// Observers (metrics) see each entry as it is decided, before the store write completes.

import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { HubAuditEntry, HubStore } from '../store/index.js';

export type HubAuditObserver = (
  action: string,
  stationId: string | null,
  detail: Readonly<Record<string, unknown>>,
) => void;

export class HubAudit {
  readonly #store: HubStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #observers: HubAuditObserver[] = [];

  constructor(store: HubStore, clock: Clock, logger: Logger) {
    this.#store = store;
    this.#clock = clock;
    this.#logger = logger;
  }

  /** Called with every entry made by `entry` or `record` (metrics count refusals by code). */
  onRecord(observer: HubAuditObserver): void {
    this.#observers.push(observer);
  }

  /** An entry to write together with other records (the store takes it in one transaction). */
  entry(
    actor: string,
    action: string,
    stationId: string | null,
    detail: Record<string, unknown> = {},
  ): Omit<HubAuditEntry, 'seq'> {
    this.#logger.info({ audit: { actor, action, stationId, ...detail } }, action);
    this.#notify(action, stationId, detail);
    return { atMs: this.#clock.now(), actor, action, stationId, detail };
  }

  async record(
    actor: string,
    action: string,
    stationId: string | null,
    detail: Record<string, unknown> = {},
  ): Promise<void> {
    this.#logger.info({ audit: { actor, action, stationId, ...detail } }, action);
    this.#notify(action, stationId, detail);
    await this.#store.appendAudit({ atMs: this.#clock.now(), actor, action, stationId, detail });
  }

  #notify(action: string, stationId: string | null, detail: Record<string, unknown>): void {
    for (const observer of this.#observers) {
      try {
        observer(action, stationId, detail);
      } catch (err) {
        // An observer's bug must not stop the audit record.
        this.#logger.error({ err, action }, 'audit observer failed');
      }
    }
  }
}
