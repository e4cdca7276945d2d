// The call-home outbox: accepts reports durably, then delivers them to the hub one at a time, in
// order per order key, retrying with full-jitter backoff. Delivery is at least once; the envelope id
// is the idempotency key the hub dedupes on, so a report resent after a crash is stored once.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Clock } from '../common/clock.js';
import { LifelineError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import {
  checkReportPayload,
  reportEnvelopeSchema,
  type ReportEnvelope,
  type ReportKind,
} from '../protocol/reports.js';
import type { OutboxCounts, OutboxItem, OutboxStore } from '../store/outbox-store.js';

export interface DeliveryResult {
  status: number;
  answer: string;
}

/** Sends the exact body to the hub; resolves with any HTTP answer, rejects when none came. */
export type Deliver = (body: string, signal: AbortSignal) => Promise<DeliveryResult>;

export interface OutboxOptions {
  store: OutboxStore;
  deliver: Deliver;
  clock: Clock;
  logger: Logger;
  /** Pending plus held reports beyond which accept() refuses. */
  maxPending?: number;
  minRetryMs?: number;
  maxRetryMs?: number;
  /** In [0, 1); the jitter source. */
  random?: () => number;
}

export interface OutboxStatus extends OutboxCounts {
  /** When the next delivery attempt is due; null when nothing is waiting to be sent. */
  nextAttemptAtMs: number | null;
  pausedUntilMs: number | null;
  running: boolean;
}

/** One delivery attempt's outcome, emitted after it is committed to the store. */
export type OutboxEvent =
  | { type: 'sent'; id: string; status: number }
  | { type: 'rejected'; id: string; status: number }
  | { type: 'failed'; id: string; error: string; nextAttemptAtMs: number };

/** 400 and 422 mean the report itself is invalid: sending it again cannot help. */
const rejectedStatuses = new Set([400, 422]);

export class Outbox extends EventEmitter<{ attempt: [OutboxEvent] }> {
  readonly #store: OutboxStore;
  readonly #deliver: Deliver;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxPending: number;
  readonly #minRetryMs: number;
  readonly #maxRetryMs: number;
  readonly #random: () => number;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #stopping = false;
  #woken = false;
  #wakeSleeper: (() => void) | undefined;
  /** After a failed attempt nothing is sent until then: the hub is likely down for every report. */
  #holdOffUntilMs = 0;
  #pausedUntilMs: number | null = null;
  #storeFailures = 0;

  constructor(options: OutboxOptions) {
    super();
    this.#store = options.store;
    this.#deliver = options.deliver;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#maxPending = options.maxPending ?? 10_000;
    this.#minRetryMs = options.minRetryMs ?? 1000;
    this.#maxRetryMs = options.maxRetryMs ?? 300_000;
    this.#random = options.random ?? Math.random;
    if (!(this.#minRetryMs > 0 && this.#maxRetryMs >= this.#minRetryMs)) {
      throw new RangeError('the outbox needs 0 < minRetryMs <= maxRetryMs');
    }
  }

  /**
   * Builds the envelope and commits it to the store; resolves only then, so the caller may
   * acknowledge the report. Refuses an invalid payload, and a full outbox (see OutboxStore.accept).
   */
  /** The store behind the outbox, for listing what waits and what was sent. */
  get store(): OutboxStore {
    return this.#store;
  }

  async accept(
    kind: ReportKind,
    payload: Record<string, unknown>,
    options: { orderKey?: string; hold?: boolean } = {},
  ): Promise<{ id: string; sha256: string; bytes: number }> {
    const nowMs = this.#clock.now();
    const envelope: ReportEnvelope = {
      id: randomBytes(16).toString('hex'),
      kind,
      createdAtMs: nowMs,
      orderKey: options.orderKey ?? null,
      payload,
    };
    const invalid = envelopeProblem(envelope);
    if (invalid) throw new LifelineError('CALLHOME_REPORT_INVALID', `invalid ${kind} report: ${invalid}`);
    const item = await this.#store.accept(envelope, {
      nowMs,
      maxPending: this.#maxPending,
      hold: options.hold ?? false,
    });
    this.#wake();
    return { id: item.id, sha256: item.sha256, bytes: item.bytes };
  }

  /** Starts the sender; reports left in the store (by a crash too) are picked up. Idempotent. */
  start(): void {
    if (this.#loop || this.#stopping) return;
    this.#loop = this.#run();
  }

  /** Maintenance mode: reports are still accepted, but nothing is sent until untilMs or resume(). */
  pause(untilMs: number): void {
    this.#pausedUntilMs = untilMs;
    this.#wake();
  }

  resume(): void {
    this.#pausedUntilMs = null;
    this.#wake();
  }

  /** A held report (accepted with hold), or every one with 'all', becomes due. */
  async release(id: string): Promise<number> {
    const released = await this.#store.release(id);
    this.#wake();
    return released;
  }

  async status(): Promise<OutboxStatus> {
    const counts = await this.#store.counts();
    const nextMs = await this.#store.nextAttemptAt();
    const paused = this.#pausedUntilMs !== null && this.#pausedUntilMs > this.#clock.now();
    return {
      ...counts,
      nextAttemptAtMs:
        nextMs === undefined
          ? null
          : Math.max(nextMs, this.#holdOffUntilMs, paused ? (this.#pausedUntilMs ?? 0) : 0),
      pausedUntilMs: paused ? this.#pausedUntilMs : null,
      running: this.#loop !== undefined && !this.#stopping,
    };
  }

  /** Lets the delivery in flight finish and commit, then stops. Idempotent. */
  async close(): Promise<void> {
    this.#stopping = true;
    this.#wake();
    await this.#loop;
  }

  /** Stops at once, abandoning the delivery in flight: it stays pending and is sent again later. */
  destroy(): void {
    this.#stopping = true;
    this.#abort.abort(new LifelineError('INTERNAL', 'the outbox was destroyed'));
    this.#wake();
  }

  #wake(): void {
    this.#woken = true;
    this.#wakeSleeper?.();
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      this.#woken = false;
      let waitMs: number | undefined;
      try {
        waitMs = await this.#step();
        this.#storeFailures = 0;
      } catch (err) {
        if (this.#stopping) return;
        // The store failed (disk full, I/O error): keep the loop alive and try again later.
        waitMs = this.#backoffMs(this.#storeFailures++);
        this.#logger.error({ err }, 'call-home outbox: store failure');
      }
      if (waitMs !== 0) await this.#sleep(waitMs);
    }
  }

  /** Delivers one due report and returns 0, or returns how long to wait (undefined: until woken). */
  async #step(): Promise<number | undefined> {
    const nowMs = this.#clock.now();
    if (this.#pausedUntilMs !== null) {
      if (this.#pausedUntilMs > nowMs) return this.#pausedUntilMs - nowMs;
      this.#pausedUntilMs = null;
    }
    if (this.#holdOffUntilMs > nowMs) return this.#holdOffUntilMs - nowMs;
    const [item] = await this.#store.nextDue(nowMs, 1);
    if (item) {
      await this.#send(item);
      return 0;
    }
    const nextMs = await this.#store.nextAttemptAt();
    return nextMs === undefined ? undefined : Math.max(1, nextMs - nowMs);
  }

  async #send(item: OutboxItem): Promise<void> {
    const log = this.#logger.child({ reportId: item.id, kind: item.kind });
    let result: DeliveryResult | undefined;
    let error: string;
    try {
      result = await this.#deliver(item.body, this.#abort.signal);
      error = `HTTP ${result.status}`;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    if (this.#abort.signal.aborted) return;
    const nowMs = this.#clock.now();
    if (result && result.status >= 200 && result.status < 300) {
      await this.#store.markSent(item.id, nowMs, result.answer, result.status);
      this.#holdOffUntilMs = 0;
      log.debug({ status: result.status }, 'call-home report delivered');
      this.emit('attempt', { type: 'sent', id: item.id, status: result.status });
    } else if (result && rejectedStatuses.has(result.status)) {
      await this.#store.markRejected(item.id, nowMs, result.status, result.answer);
      this.#holdOffUntilMs = 0;
      log.warn({ status: result.status, answer: result.answer }, 'call-home report refused by the hub');
      this.emit('attempt', { type: 'rejected', id: item.id, status: result.status });
    } else {
      const nextAttemptAtMs = nowMs + this.#backoffMs(item.attempts);
      await this.#store.markFailed(item.id, nowMs, error, nextAttemptAtMs, result);
      this.#holdOffUntilMs = nextAttemptAtMs;
      log.info({ error, attempts: item.attempts + 1, nextAttemptAtMs }, 'call-home delivery failed');
      this.emit('attempt', { type: 'failed', id: item.id, error, nextAttemptAtMs });
    }
  }

  /** Full jitter: uniform in [0, min(max, min * 2^attempts)). */
  #backoffMs(attempts: number): number {
    const ceilingMs = Math.min(this.#maxRetryMs, this.#minRetryMs * 2 ** Math.min(attempts, 52));
    return Math.floor(this.#random() * ceilingMs);
  }

  #sleep(ms: number | undefined): Promise<void> {
    if (this.#woken || this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakeSleeper = undefined;
        resolve();
      };
      // Timers cap at 2^31-1 ms; a longer wait just wakes early and looks again.
      const timer = ms === undefined ? undefined : setTimeout(done, Math.min(ms, 2 ** 31 - 1));
      this.#wakeSleeper = done;
    });
  }
}

function envelopeProblem(envelope: ReportEnvelope): string | undefined {
  const parsed = reportEnvelopeSchema.safeParse(envelope);
  if (!parsed.success) return parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  return checkReportPayload(envelope.kind, envelope.payload);
}
