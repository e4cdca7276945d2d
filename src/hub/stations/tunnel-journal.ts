// Tunnel connects and disconnects, written to the store (the station's connected state and the
// audit entry) in batches. Each write is a commit, and a commit waits for the disk: two per tunnel
// stalled the hub's event loop for seconds when 1,000 stations came and went at once. A batch
// every 200 ms costs one commit, whatever the crowd. The log line of each audit entry is still
// written at once.

import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { HubStore, TunnelChange } from '../store/index.js';
import type { HubAudit } from '../audit/index.js';
import type { TunnelEvents } from './tunnel-registry.js';

export interface TunnelJournalOptions {
  store: HubStore;
  /** This hub node: tunnels come to it and leave it. */
  nodeId: string;
  audit: HubAudit;
  clock: Clock;
  logger: Logger;
  /** The longest a change waits before it is written. */
  flushIntervalMs?: number;
  /** A batch this large is written at once. */
  maxBatch?: number;
}

export class TunnelJournal implements TunnelEvents {
  readonly #options: Required<TunnelJournalOptions>;
  #pending: TunnelChange[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The write in progress; the next one starts after it, so batches land in order. */
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: TunnelJournalOptions) {
    this.#options = { flushIntervalMs: 200, maxBatch: 500, ...options };
  }

  connected(stationId: string, remoteAddress: string): void {
    this.#add(stationId, true, 'tunnel.connected', { remote: remoteAddress });
  }

  disconnected(stationId: string, reason: string): void {
    this.#add(stationId, false, 'tunnel.disconnected', { reason });
  }

  /** Writes everything recorded so far; resolves when it is in the store (or failed and was logged). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length > 0) {
      this.#writing = this.#writing.then(() =>
        this.#options.store.recordTunnelChanges(batch).catch((err: unknown) => {
          this.#options.logger.error({ err, changes: batch.length }, 'tunnel changes not recorded');
        }),
      );
    }
    return this.#writing;
  }

  /** Writes what is pending; changes reported after this are only logged. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.flush();
    }
    await this.#writing;
  }

  #add(stationId: string, connected: boolean, action: string, detail: Record<string, unknown>): void {
    const entry = this.#options.audit.entry(`station:${stationId}`, action, stationId, detail);
    if (this.#closed) return;
    this.#pending.push({
      stationId,
      nodeId: this.#options.nodeId,
      connected,
      atMs: entry.atMs,
      audit: entry,
    });
    if (this.#pending.length >= this.#options.maxBatch) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.#options.flushIntervalMs).unref();
  }
}
