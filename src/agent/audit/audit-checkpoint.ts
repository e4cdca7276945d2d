// Audit checkpoints: the agent sends the hub a copy of its audit log's head (entry count and
// hash), signed with the station key, at least every 100 entries or every 60 s. Each checkpoint
// also names the hash its log has at the hub's previous checkpoint, so the hub accepts only a
// log that extends what it saw before: a log rolled back or cut short on the appliance is
// refused even after it has grown again, and `audit --verify` says so.

import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import { genesisHash, signCheckpoint, type AuditCheckpoint, type AuditEntry } from '../../protocol/index.js';
import type { AgentStore } from '../store/index.js';
import type { AuditLog } from './audit-log.js';

export class AuditCheckpointer {
  readonly #send: (checkpoint: AuditCheckpoint) => Promise<void>;
  readonly #fetchLatest: () => Promise<{ count: number } | null>;
  readonly #hashAt: (seq: number) => Promise<string | undefined>;
  /** The count of the hub's latest checkpoint, once known. */
  #hubCount: number | undefined;
  /** The station key in use now: renewal replaces it, and the hub checks against the new certificate. */
  readonly #key: () => KeyObject;
  readonly #stationId: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #everyEntries: number;
  #head: { count: number; hash: string } | undefined;
  #sentCount = 0;
  #sending = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: {
    stationId: string;
    /** The station key, or a function giving the current one (it changes with each renewal). */
    keyPem: string | (() => string);
    clock: Clock;
    logger: Logger;
    send: (checkpoint: AuditCheckpoint) => Promise<void>;
    /** The hub's latest checkpoint of this station, or null. */
    fetchLatest: () => Promise<{ count: number } | null>;
    /** The hash of this log's entry `seq` (genesis for 0). */
    hashAt: (seq: number) => Promise<string | undefined>;
    everyEntries?: number;
    everyMs?: number;
  }) {
    this.#send = options.send;
    this.#fetchLatest = options.fetchLatest;
    this.#hashAt = options.hashAt;
    const keyPem = options.keyPem;
    if (typeof keyPem === 'string') {
      const key = createPrivateKey(keyPem);
      this.#key = () => key;
    } else {
      this.#key = () => createPrivateKey(keyPem());
    }
    this.#stationId = options.stationId;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#everyEntries = options.everyEntries ?? 100;
    this.#timer = setInterval(() => void this.flush(), options.everyMs ?? 60_000);
    this.#timer.unref();
  }

  /** Called for every entry written; sends when `everyEntries` have accumulated. */
  observe(entry: AuditEntry): void {
    this.#head = { count: entry.seq, hash: entry.hash };
    if (entry.seq - this.#sentCount >= this.#everyEntries) void this.flush();
  }

  /** Sends the current head if the hub does not have it yet. */
  async flush(): Promise<void> {
    const head = this.#head;
    if (!head || head.count === this.#sentCount || this.#sending) return;
    this.#sending = true;
    try {
      this.#hubCount ??= (await this.#fetchLatest())?.count ?? 0;
      const previousCount = this.#hubCount;
      // A log shorter than the hub's checkpoint has no entry there: the hub will refuse it.
      const previousHash = (await this.#hashAt(previousCount)) ?? 'missing';
      const checkpoint = signCheckpoint(
        {
          stationId: this.#stationId,
          count: head.count,
          headHash: head.hash,
          previousCount,
          previousHash,
          atMs: this.#clock.now(),
        },
        this.#key(),
      );
      await this.#send(checkpoint);
      this.#sentCount = head.count;
      this.#hubCount = head.count;
    } catch (err) {
      this.#logger.warn({ err }, 'audit checkpoint not delivered; will retry');
    } finally {
      this.#sending = false;
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

/** The call-home requests checkpoints need (CallHomeClient.request). */
export interface CheckpointChannel {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

/**
 * Checkpoints for the running agent: every entry the log writes is observed, and a checkpoint goes
 * to the hub every `everyEntries` entries or `everyMs`. close() sends the head the hub lacks (the
 * agent's last entries), then stops.
 */
export async function startCheckpoints(deps: {
  stationId: string;
  keyPem: () => string;
  hub: CheckpointChannel;
  store: Pick<AgentStore, 'auditEntry' | 'lastAuditEntry'>;
  audit: Pick<AuditLog, 'onEntry'>;
  everyEntries: number;
  everyMs: number;
  clock: Clock;
  logger: Logger;
}): Promise<{ close(): Promise<void> }> {
  const { hub, store } = deps;
  const head = await store.lastAuditEntry();
  const checkpointer = new AuditCheckpointer({
    stationId: deps.stationId,
    // The hub checks a checkpoint against the certificate of the connection it came on.
    keyPem: deps.keyPem,
    clock: deps.clock,
    logger: deps.logger,
    everyEntries: deps.everyEntries,
    everyMs: deps.everyMs,
    send: async (checkpoint) => {
      await hub.request('POST', '/v1/audit/checkpoints', checkpoint);
    },
    fetchLatest: async () =>
      (await hub.request<{ checkpoint: { count: number } | null }>('GET', '/v1/audit/checkpoints/latest'))
        .checkpoint,
    hashAt: async (seq) => (seq === 0 ? genesisHash : (await store.auditEntry(seq))?.hash),
  });
  if (head) checkpointer.observe(head);
  deps.audit.onEntry((entry) => checkpointer.observe(entry));
  return {
    async close() {
      await checkpointer.flush();
      checkpointer.close();
    },
  };
}
