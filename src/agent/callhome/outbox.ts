// The call-home outbox: accepts reports durably (group commit), then delivers them to the hub in
// batches (or one at a time without a batch sender), in order per order key, retrying with
// full-jitter backoff. Delivery is at least once; the envelope id is the idempotency key the hub
// dedupes on, so a report resent after a crash is stored once. Over 400 lines: accepting and
// sending share the state that keeps them apart (wake-ups, pauses, reports in flight); ids,
// envelope checks and the group commit itself are outbox-intake.ts.

import { Wakeup } from '../../common/wakeup.js';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import {
  maxReportsPerBatch,
  reportBatchContentType,
  type ReportEnvelope,
  type ReportKind,
} from '../../protocol/index.js';
import type { AlsoWrite, OutboxCounts, OutboxItem, OutboxStore, Settlement } from './outbox-store.js';
import type { AgentDatabase } from '../store/index.js';
import type { Kysely } from 'kysely';
import { buildManifest, encodeManifest, manifestHeader } from '../../protocol/index.js';
import type { HubAnswer } from '../link/index.js';
import { describeBatch, describeItem, fitBatch, manifestOf, parseBatchAnswer } from './report-batch.js';
import { GroupCommit, envelopeProblem, newReportId } from './outbox-intake.js';

/**
 * Sends the exact body to the hub, with the given headers (the manifest); resolves with any HTTP
 * answer, rejects when none came.
 */
export type Deliver = (
  body: string,
  signal: AbortSignal,
  headers?: Record<string, string>,
) => Promise<HubAnswer>;

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
  /**
   * Sends several reports in one request (POST /v1/reports/batch); when given, due reports go out
   * in batches, committed together on both sides.
   */
  deliverBatch?: Deliver;
  /** Per batch, at most this many reports (and one report more than maxBatchBytes never waits). */
  maxBatchReports?: number;
  maxBatchBytes?: number;
  /** Hold for review: every report is accepted as held, to be sent once the admin releases it. */
  review?: boolean;
  /** Rewrites a payload before it is stored and sent (redaction); the stored bytes are what leaves. */
  transformPayload?: (kind: ReportKind, payload: Record<string, unknown>) => Record<string, unknown>;
  /**
   * Records what a delivery settled for good (the audit entries), written in the settlement's own
   * transaction so that neither commits without the other; the function it resolves with runs once
   * that transaction has committed.
   */
  recordSettled?: (trx: Kysely<AgentDatabase>, settled: OutboxSettled) => Promise<() => void>;
  /**
   * Throws STORE_FULL when the disk has no room for a new report (StoreSpace.ensureRoom); asked
   * before each group of reports is stored. Deliveries and settlements are never refused this way.
   */
  ensureRoom?: () => Promise<void>;
}

export interface OutboxStatus extends OutboxCounts {
  /** When the next delivery attempt is due; null when nothing is waiting to be sent. */
  nextAttemptAtMs: number | null;
  pausedUntilMs: number | null;
  running: boolean;
}

/** One delivery attempt's outcome, emitted after it is committed to the store. */
export type OutboxEvent =
  | { type: 'sent'; id: string; kind: ReportKind; status: number }
  | { type: 'rejected'; id: string; kind: ReportKind; status: number }
  | { type: 'failed'; id: string; error: string; nextAttemptAtMs: number };

/** Batches sent before the first is answered. */
const maxBatchesInFlight = 4;

/** 400 and 422 mean the report itself is invalid: sending it again cannot help. */
const rejectedStatuses = new Set([400, 422]);

/** What one delivery settled for good, emitted after it is committed: one entry per report. */
export interface OutboxSettled {
  sent: Array<{ id: string; status: number }>;
  rejected: Array<{ id: string; status: number }>;
}

export class Outbox extends EventEmitter<{ attempt: [OutboxEvent]; settled: [OutboxSettled] }> {
  readonly #store: OutboxStore;
  readonly #deliver: Deliver;
  readonly #deliverBatch: Deliver | undefined;
  readonly #maxBatchReports: number;
  readonly #maxBatchBytes: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxPending: number;
  readonly #minRetryMs: number;
  readonly #maxRetryMs: number;
  readonly #random: () => number;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #stopping = false;
  readonly #wakeup = new Wakeup();
  /** After a failed attempt nothing is sent until then: the hub is likely down for every report. */
  #holdOffUntilMs = 0;
  #pausedUntilMs: number | null = null;
  #storeFailures = 0;
  /** After the store failed to settle a delivery (a full disk): nothing is sent until then. */
  #storeHoldOffUntilMs = 0;
  /** Batches on their way, and the reports they carry (not offered to the next batch). */
  readonly #inFlight = new Set<Promise<void>>();
  readonly #inFlightIds = new Set<string>();
  readonly #review: boolean;
  /** Reports accepted at about the same moment, committed together. */
  readonly #intake: GroupCommit;
  readonly #transformPayload: OutboxOptions['transformPayload'];
  readonly #recordSettled: OutboxOptions['recordSettled'];
  readonly #ensureRoom: OutboxOptions['ensureRoom'];

  constructor(options: OutboxOptions) {
    super();
    this.#store = options.store;
    this.#deliver = options.deliver;
    this.#deliverBatch = options.deliverBatch;
    this.#maxBatchReports = Math.min(options.maxBatchReports ?? maxReportsPerBatch, maxReportsPerBatch);
    this.#maxBatchBytes = options.maxBatchBytes ?? 4 * 1024 * 1024;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#maxPending = options.maxPending ?? 10_000;
    this.#minRetryMs = options.minRetryMs ?? 1000;
    this.#maxRetryMs = options.maxRetryMs ?? 300_000;
    this.#random = options.random ?? Math.random;
    this.#review = options.review ?? false;
    this.#transformPayload = options.transformPayload;
    this.#recordSettled = options.recordSettled;
    this.#ensureRoom = options.ensureRoom;
    if (!(this.#minRetryMs > 0 && this.#maxRetryMs >= this.#minRetryMs)) {
      throw new RangeError('the outbox needs 0 < minRetryMs <= maxRetryMs');
    }
    this.#intake = new GroupCommit({
      store: this.#store,
      clock: this.#clock,
      maxPending: this.#maxPending,
      ensureRoom: this.#ensureRoom,
      committed: () => this.#wake(),
    });
  }

  /** The store behind the outbox, for listing what waits and what was sent. */
  get store(): OutboxStore {
    return this.#store;
  }

  /**
   * Builds the envelope and commits it to the store; resolves only then, so the caller may
   * acknowledge the report. Refuses an invalid payload, and a full outbox (see OutboxStore.accept).
   */
  async accept(
    kind: ReportKind,
    payload: Record<string, unknown>,
    options: {
      orderKey?: string;
      hold?: boolean;
      /** Written in the same commit as the report (see OutboxStore.accept). */
      alsoWrite?: (trx: Kysely<AgentDatabase>, reportId: string) => Promise<void>;
    } = {},
  ): Promise<{ id: string; sha256: string; bytes: number; held: boolean }> {
    const nowMs = this.#clock.now();
    const id = newReportId(nowMs);
    const envelope: ReportEnvelope = {
      id,
      kind,
      createdAtMs: nowMs,
      orderKey: options.orderKey ?? null,
      payload: this.#transformPayload ? this.#transformPayload(kind, payload) : payload,
    };
    const invalid = envelopeProblem(envelope);
    if (invalid) {
      // Pseudonyms can be longer than the names they replace: say so when only redaction broke it.
      const byRedaction = this.#transformPayload !== undefined && !envelopeProblem({ ...envelope, payload });
      throw new LifelineError(
        'CALLHOME_REPORT_INVALID',
        byRedaction
          ? `invalid ${kind} report once redacted (host names, addresses and user names become pseudonyms such as host-3f9a1c2b, which can be longer): ${invalid}`
          : `invalid ${kind} report: ${invalid}`,
      );
    }
    const alsoWrite = options.alsoWrite;
    const hold = this.#review || (options.hold ?? false);
    if (!alsoWrite) {
      const item = await this.#intake.accept(envelope, hold);
      return { id: item.id, sha256: item.sha256, bytes: item.bytes, held: item.state === 'held' };
    }
    await this.#ensureRoom?.();
    const item = await this.#store.accept(envelope, {
      nowMs,
      maxPending: this.#maxPending,
      hold,
      ...(alsoWrite ? { alsoWrite: (trx: Kysely<AgentDatabase>) => alsoWrite(trx, id) } : {}),
    });
    this.#wake();
    return { id: item.id, sha256: item.sha256, bytes: item.bytes, held: item.state === 'held' };
  }

  /**
   * The store has room again (StoreSpace's condition ended): a sender that backed off because its
   * store could not settle deliveries goes on now rather than at the end of its back-off.
   */
  storeRecovered(): void {
    this.#storeFailures = 0;
    this.#storeHoldOffUntilMs = 0;
    this.#wake();
  }

  /** True when every report is held for review before it is sent. */
  get review(): boolean {
    return this.#review;
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
          : Math.max(
              nextMs,
              this.#holdOffUntilMs,
              this.#storeHoldOffUntilMs,
              paused ? (this.#pausedUntilMs ?? 0) : 0,
            ),
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
    this.#wakeup.wake();
  }

  /** Sends a batch without waiting for it; it never rejects (a store failure holds the sender off). */
  #startBatch(deliver: Deliver, items: OutboxItem[]): void {
    for (const item of items) this.#inFlightIds.add(item.id);
    const sending: Promise<void> = this.#sendBatch(deliver, items)
      .catch((err: unknown) => {
        this.#storeHoldOffUntilMs = this.#clock.now() + this.#backoffMs(this.#storeFailures++);
        this.#logStoreFailure(err);
      })
      .finally(() => {
        for (const item of items) this.#inFlightIds.delete(item.id);
        this.#inFlight.delete(sending);
        this.#wake();
      });
    this.#inFlight.add(sending);
  }

  async #run(): Promise<void> {
    await this.#runSteps();
    // Batches still in flight settle before the loop ends, so close() leaves nothing half done.
    await Promise.all(this.#inFlight);
  }

  async #runSteps(): Promise<void> {
    while (!this.#stopping) {
      this.#wakeup.clear();
      let waitMs: number | undefined;
      try {
        waitMs = await this.#step();
        this.#storeFailures = 0;
      } catch (err) {
        if (this.#stopping) return;
        // The store failed (disk full, I/O error): keep the loop alive and try again later.
        waitMs = this.#backoffMs(this.#storeFailures++);
        this.#logStoreFailure(err);
      }
      if (waitMs !== 0 && !this.#stopping) await this.#wakeup.sleep(waitMs);
    }
  }

  /** Delivers one due report and returns 0, or returns how long to wait (undefined: until woken). */
  async #step(): Promise<number | undefined> {
    const nowMs = this.#clock.now();
    if (this.#pausedUntilMs !== null) {
      if (this.#pausedUntilMs > nowMs) return this.#pausedUntilMs - nowMs;
      this.#pausedUntilMs = null;
    }
    const holdOffUntilMs = Math.max(this.#holdOffUntilMs, this.#storeHoldOffUntilMs);
    if (holdOffUntilMs > nowMs) return holdOffUntilMs - nowMs;
    if (this.#deliverBatch) {
      // Several batches in flight: the next ones travel while the hub commits and both sides flush
      // their disks for the ones before. An order key still holds: a report in flight is pending,
      // so the next of its key is not due.
      if (this.#inFlight.size >= maxBatchesInFlight) {
        await Promise.race(this.#inFlight);
        return 0;
      }
      const due = await this.#store.nextDue(nowMs, this.#maxBatchReports, this.#inFlightIds);
      if (due.length > 0) {
        this.#startBatch(this.#deliverBatch, fitBatch(due, this.#maxBatchBytes));
        return 0;
      }
      if (this.#inFlight.size > 0) {
        await Promise.race(this.#inFlight);
        return 0;
      }
    } else {
      const [item] = await this.#store.nextDue(nowMs, 1);
      if (item) {
        await this.#send(item);
        return 0;
      }
    }
    const nextMs = await this.#store.nextAttemptAt();
    return nextMs === undefined ? undefined : Math.max(1, nextMs - nowMs);
  }

  async #send(item: OutboxItem): Promise<void> {
    // Destroyed meanwhile: the report stays pending (a signal aborted before the call never fires).
    if (this.#abort.signal.aborted) return;
    const log = this.#logger.child({ reportId: item.id, kind: item.kind });
    let result: HubAnswer | undefined;
    let error: string;
    const described = manifestOf(item);
    const manifest = JSON.stringify(described);
    try {
      result = await this.#deliver(item.body, this.#abort.signal, {
        [manifestHeader]: encodeManifest(described),
      });
      error = `HTTP ${result.status}`;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    if (this.#abort.signal.aborted) return;
    const nowMs = this.#clock.now();
    if (result && result.status >= 200 && result.status < 300) {
      const settled: OutboxSettled = { sent: [{ id: item.id, status: result.status }], rejected: [] };
      const record = this.#recorder(settled);
      await this.#store.markSent(item.id, nowMs, result.answer, result.status, manifest, record.write);
      record.published();
      this.#holdOffUntilMs = 0;
      log.debug({ status: result.status }, 'call-home report delivered');
      this.emit('attempt', { type: 'sent', id: item.id, kind: item.kind, status: result.status });
      this.emit('settled', settled);
    } else if (result && rejectedStatuses.has(result.status)) {
      const settled: OutboxSettled = { sent: [], rejected: [{ id: item.id, status: result.status }] };
      const record = this.#recorder(settled);
      await this.#store.markRejected(item.id, nowMs, result.status, result.answer, manifest, record.write);
      record.published();
      this.#holdOffUntilMs = 0;
      log.warn({ status: result.status, answer: result.answer }, 'call-home report refused by the hub');
      this.emit('attempt', { type: 'rejected', id: item.id, kind: item.kind, status: result.status });
      this.emit('settled', settled);
    } else {
      const nextAttemptAtMs = nowMs + this.#backoffMs(item.attempts);
      await this.#store.markFailed(item.id, nowMs, error, nextAttemptAtMs, result && { ...result, manifest });
      this.#holdOffUntilMs = nextAttemptAtMs;
      log.info({ error, attempts: item.attempts + 1, nextAttemptAtMs }, 'call-home delivery failed');
      this.emit('attempt', { type: 'failed', id: item.id, error, nextAttemptAtMs });
    }
  }

  /**
   * Sends due reports as one batch; each report is settled by its own answer, all in one commit.
   * A refusal of the whole batch (no answer per report) names no report at fault: every report in it
   * is retried later, none is marked rejected.
   */
  async #sendBatch(deliver: Deliver, items: OutboxItem[]): Promise<void> {
    if (this.#abort.signal.aborted) return;
    const body = items.map((item) => item.body).join('\n');
    const described = buildManifest(body, {
      kind: 'reports.batch',
      id: randomBytes(16).toString('hex'),
      contains: describeBatch(items),
      parts: items.map((item) => ({
        name: item.id,
        bytes: item.bytes,
        sha256: item.sha256,
        contains: describeItem(item).slice(0, 200),
      })),
    });
    // Each report's log row keeps the batch's manifest with only its own part: what the batch
    // was, and which bytes of it were this report (not the other 49 parts again, 50 times).
    const manifestFor = (index: number): string =>
      JSON.stringify({ ...described, parts: described.parts?.slice(index, index + 1) });
    let result: HubAnswer | undefined;
    let error: string;
    try {
      result = await deliver(body, this.#abort.signal, {
        [manifestHeader]: encodeManifest(described),
        'content-type': reportBatchContentType,
      });
      error = `HTTP ${result.status}`;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    if (this.#abort.signal.aborted) return;
    const nowMs = this.#clock.now();
    const answers = result?.status === 200 ? parseBatchAnswer(result.answer, items) : undefined;
    if (result?.status === 200 && !answers) error = 'the hub answered the batch with an unreadable answer';
    const attempts = Math.max(...items.map((item) => item.attempts));
    const nextAttemptAtMs = nowMs + this.#backoffMs(attempts);
    const settlements: Settlement[] = items.map((item, index) => {
      const manifest = manifestFor(index);
      const own = answers?.[index];
      if (own && own.status >= 200 && own.status < 300)
        return {
          id: item.id,
          outcome: 'sent',
          status: own.status,
          answer: JSON.stringify(own.answer),
          manifest,
        };
      if (own && rejectedStatuses.has(own.status))
        return {
          id: item.id,
          outcome: 'rejected',
          status: own.status,
          answer: JSON.stringify(own.answer),
          manifest,
        };
      return {
        id: item.id,
        outcome: 'failed',
        error: own ? `HTTP ${own.status}` : error,
        nextAttemptAtMs,
        ...(result
          ? {
              answered: {
                status: own?.status ?? result.status,
                answer: own ? JSON.stringify(own.answer) : result.answer,
                manifest,
              },
            }
          : {}),
      };
    });
    const settled: OutboxSettled = { sent: [], rejected: [] };
    for (const s of settlements)
      if (s.outcome !== 'failed') settled[s.outcome].push({ id: s.id, status: s.status });
    const record = this.#recorder(settled);
    await this.#store.settleMany(nowMs, settlements, record.write);
    record.published();
    const failed = settlements.filter((s) => s.outcome === 'failed').length;
    this.#holdOffUntilMs = failed > 0 ? nextAttemptAtMs : 0;
    if (failed > 0)
      this.#logger.info(
        { error, reports: failed, attempts: attempts + 1, nextAttemptAtMs },
        'call-home delivery failed',
      );
    const kindOf = new Map(items.map((item) => [item.id, item.kind]));
    if (settled.sent.length + settled.rejected.length > 0) this.emit('settled', settled);
    for (const s of settlements) {
      if (s.outcome === 'failed')
        this.emit('attempt', { type: 'failed', id: s.id, error: s.error, nextAttemptAtMs });
      else {
        if (s.outcome === 'rejected')
          this.#logger.warn(
            { reportId: s.id, status: s.status, answer: s.answer },
            'call-home report refused by the hub',
          );
        this.emit('attempt', {
          type: s.outcome,
          id: s.id,
          kind: kindOf.get(s.id) ?? 'generic',
          status: s.status,
        });
      }
    }
  }

  /**
   * What a settlement's transaction also writes (the record of what it settled, if any), and what
   * to run once it has committed.
   */
  #recorder(settled: OutboxSettled): { write?: AlsoWrite; published: () => void } {
    const recordSettled = this.#recordSettled;
    if (!recordSettled || settled.sent.length + settled.rejected.length === 0) return { published: () => {} };
    let publish: (() => void) | undefined;
    return {
      write: async (trx) => {
        publish = await recordSettled(trx, settled);
      },
      published: () => publish?.(),
    };
  }

  /** A full disk is logged once, as a condition (StoreSpace), not at every retry of the sender. */
  #logStoreFailure(err: unknown): void {
    const full = err instanceof LifelineError && err.code === 'STORE_FULL';
    this.#logger[full ? 'debug' : 'error']({ err }, 'call-home outbox: store failure');
  }

  /** Full jitter: uniform in [0, min(max, min * 2^attempts)). */
  #backoffMs(attempts: number): number {
    const ceilingMs = Math.min(this.#maxRetryMs, this.#minRetryMs * 2 ** Math.min(attempts, 52));
    return Math.floor(this.#random() * ceilingMs);
  }
}
