// The agent's audit trail: every decision and setting change goes to the hash-chained log in the
// store and to the process log. Secrets never appear in `detail`.

import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import type { AgentSessionRecord, AgentStore, AuditEntry } from '../store/index.js';

export class AuditLog {
  readonly #store: AgentStore;
  readonly #clock: Clock;
  readonly #logger: Logger;

  constructor(store: AgentStore, clock: Clock, logger: Logger) {
    this.#store = store;
    this.#clock = clock;
    this.#logger = logger;
  }

  async record(
    actor: string,
    action: string,
    detail: Record<string, unknown> = {},
    with_: { sessionStart?: AgentSessionRecord } = {},
  ): Promise<AuditEntry> {
    const entry = await this.#store.appendAudit({ atMs: this.#clock.now(), actor, action, detail }, with_);
    this.#logger.info({ audit: { seq: entry.seq, actor, action, ...detail } }, action);
    return entry;
  }
}
