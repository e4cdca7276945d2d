// How reports enter the outbox: each gets an id that grows with time, its envelope is checked
// against its kind's schema, and reports accepted at about the same moment are committed together
// (group commit), so that many submitters share one disk flush.

import { randomFillSync } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { checkReportPayload, reportEnvelopeSchema, type ReportEnvelope } from '../../protocol/index.js';
import type { OutboxItem, OutboxStore } from './outbox-store.js';

/**
 * A report id: 32 hex digits, the first 12 the acceptance time in milliseconds and the other 20
 * random (80 bits). Ids that grow with time are appended to the id indexes of the outbox and of
 * the hub's reports where random ones would rewrite a page of each index per report.
 */
export function newReportId(nowMs: number): string {
  const time = Math.max(0, Math.min(Math.floor(nowMs), 0xffff_ffff_ffff));
  return time.toString(16).padStart(12, '0') + randomHex(10);
}

/** Random bytes drawn 4 KiB at a time: one call into the generator per 409 ids, not one per id. */
const randomPool = Buffer.alloc(4096);
let randomPoolUsed = randomPool.length;

function randomHex(bytes: number): string {
  if (randomPoolUsed + bytes > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolUsed = 0;
  }
  randomPoolUsed += bytes;
  return randomPool.toString('hex', randomPoolUsed - bytes, randomPoolUsed);
}

/** What is wrong with an envelope (its schema, then its kind's payload), or undefined. */
export function envelopeProblem(envelope: ReportEnvelope): string | undefined {
  const parsed = reportEnvelopeSchema.safeParse(envelope);
  if (!parsed.success) return parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  return checkReportPayload(envelope.kind, envelope.payload);
}

/** Reports stored by one group commit at most. */
const maxAcceptGroup = 500;

interface Waiter {
  envelope: ReportEnvelope;
  hold: boolean;
  resolve: (item: OutboxItem) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: reports accepted while a commit is in flight wait for the next one, which stores
 * them all at once. Each still resolves only after its report is committed.
 */
export class GroupCommit {
  readonly #store: Pick<OutboxStore, 'acceptMany'>;
  readonly #clock: Clock;
  readonly #maxPending: number;
  readonly #ensureRoom: (() => Promise<void>) | undefined;
  readonly #committed: () => void;
  readonly #queue: Waiter[] = [];
  #flushing = false;

  constructor(options: {
    store: Pick<OutboxStore, 'acceptMany'>;
    clock: Clock;
    maxPending: number;
    /** Throws STORE_FULL when there is no room for a new report; asked before each group. */
    ensureRoom?: (() => Promise<void>) | undefined;
    /** A group was committed (or refused): the sender may have work. */
    committed: () => void;
  }) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#maxPending = options.maxPending;
    this.#ensureRoom = options.ensureRoom;
    this.#committed = options.committed;
  }

  accept(envelope: ReportEnvelope, hold: boolean): Promise<OutboxItem> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ envelope, hold, resolve, reject });
      // The first report of a group waits one turn of the event loop, so that every request
      // already read from the sockets joins the same commit.
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const group = this.#queue.splice(0, maxAcceptGroup);
        try {
          await this.#ensureRoom?.();
          const results = await this.#store.acceptMany(group, {
            nowMs: this.#clock.now(),
            maxPending: this.#maxPending,
          });
          group.forEach((waiter, index) => {
            const result = results[index];
            if (result === undefined || result instanceof LifelineError)
              waiter.reject(result ?? new LifelineError('STORE_FAILED', 'the report was not stored'));
            else waiter.resolve(result);
          });
        } catch (err) {
          for (const waiter of group) waiter.reject(err);
        }
        this.#committed();
      }
    } finally {
      this.#flushing = false;
    }
  }
}
