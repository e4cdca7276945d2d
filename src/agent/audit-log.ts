// The agent's audit trail: every decision and setting change goes to the hash-chained log in the
// store and to the process log. Secrets never appear in `detail`. Fail closed: when an entry
// cannot be written, `onFailure` runs (the agent ends every session) and `healthy` stays false
// until a write succeeds again, so no new session starts meanwhile.

import type { Clock } from '../common/clock.js';
import { LifelineError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { AgentStore, AuditEntry, AuditWith } from '../store/index.js';

export class AuditLog {
  readonly #store: AgentStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #listeners: ((entry: AuditEntry) => void)[] = [];
  #healthy = true;
  onFailure: ((err: unknown) => void) | undefined;

  constructor(store: AgentStore, clock: Clock, logger: Logger) {
    this.#store = store;
    this.#clock = clock;
    this.#logger = logger;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  /** Called with every entry once it is written (syslog export, checkpoints, live pages). */
  onEntry(listener: (entry: AuditEntry) => void): void {
    this.#listeners.push(listener);
  }

  async record(
    actor: string,
    action: string,
    detail: Record<string, unknown> = {},
    with_: AuditWith = {},
  ): Promise<AuditEntry> {
    let entry: AuditEntry;
    try {
      entry = await this.#store.appendAudit({ atMs: this.#clock.now(), actor, action, detail }, with_);
    } catch (err) {
      // A refusal decided inside the write (a replayed nonce) is not a storage failure.
      if (err instanceof LifelineError) throw err;
      this.#logger.error(
        { err, audit: { actor, action } },
        'audit entry could not be written: failing closed',
      );
      if (this.#healthy) {
        this.#healthy = false;
        this.onFailure?.(err);
      }
      throw new LifelineError('STORE_FAILED', `the audit log cannot be written (${(err as Error).message})`, {
        cause: err,
      });
    }
    this.#healthy = true;
    this.#logger.info({ audit: { seq: entry.seq, actor, action, ...detail } }, action);
    for (const listener of this.#listeners) listener(entry);
    return entry;
  }
}
