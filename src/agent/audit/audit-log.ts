// The agent's audit trail: every decision and setting change goes to the hash-chained log in the
// store and to the process log. Secrets never appear in `detail`. Fail closed: when an entry
// cannot be written, `onFailure` runs (the agent ends every session) and `healthy` stays false
// until a write succeeds again, so no new session starts meanwhile. A full disk fails it with
// STORE_FULL, anything else with STORE_FAILED.

import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { isStoreFailure } from '../../common/disk/index.js';
import type { Logger } from '../../common/logger.js';
import type { Kysely } from 'kysely';
import type { AgentDatabase, AgentStore, AuditWith } from '../store/index.js';
import type { AuditEntry } from '../../protocol/index.js';

export class AuditLog {
  readonly #store: AgentStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #listeners: ((entry: AuditEntry) => void)[] = [];
  readonly #healthListeners: ((healthy: boolean) => void)[] = [];
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

  /** Called when the log stops or starts again being writable (the status the pages show). */
  onHealthChange(listener: (healthy: boolean) => void): void {
    this.#healthListeners.push(listener);
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
    const entry = await this.#written(actor, action, () =>
      this.#store.appendAudit({ atMs: this.#clock.now(), actor, action, detail }, with_),
    );
    this.#publish(entry);
    return entry;
  }

  /**
   * Writes an entry inside an outbox transaction, so it commits with the settlement it records or
   * not at all. The caller calls the function returned once that transaction has committed: only
   * then does the entry reach the process log and the listeners.
   */
  async recordIn(
    trx: Kysely<AgentDatabase>,
    actor: string,
    action: string,
    detail: Record<string, unknown> = {},
  ): Promise<() => void> {
    const entry = await this.#written(actor, action, () =>
      this.#store.appendAuditIn(trx, { atMs: this.#clock.now(), actor, action, detail }),
    );
    return () => this.#publish(entry);
  }

  async #written(actor: string, action: string, write: () => Promise<AuditEntry>): Promise<AuditEntry> {
    let entry: AuditEntry;
    try {
      entry = await write();
    } catch (err) {
      // A refusal decided inside the write (a replayed nonce) is not a storage failure.
      if (err instanceof LifelineError && !isStoreFailure(err)) throw err;
      // Logged when the log stops being writable, not again for every entry refused meanwhile.
      this.#logger[this.#healthy ? 'error' : 'debug'](
        { err, audit: { actor, action } },
        'audit entry could not be written: failing closed',
      );
      if (this.#healthy) {
        this.#healthy = false;
        this.onFailure?.(err);
        for (const listener of this.#healthListeners) listener(false);
      }
      const full = err instanceof LifelineError && err.code === 'STORE_FULL';
      throw new LifelineError(
        full ? 'STORE_FULL' : 'STORE_FAILED',
        `the audit log cannot be written (${(err as Error).message})`,
        { cause: err },
      );
    }
    if (!this.#healthy) {
      this.#logger.info({ audit: { actor, action } }, 'the audit log can be written again');
      this.#healthy = true;
      for (const listener of this.#healthListeners) listener(true);
    }
    return entry;
  }

  #publish(entry: AuditEntry): void {
    this.#logger.info(
      { audit: { seq: entry.seq, actor: entry.actor, action: entry.action, ...entry.detail } },
      entry.action,
    );
    for (const listener of this.#listeners) listener(entry);
  }
}
