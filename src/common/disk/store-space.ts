// The "store full" condition of a running agent or hub: raised when its data directory's filesystem
// has less free space than it keeps in reserve (checked before each write that can wait, such as a
// new report), or when a write failed for lack of room. While it lasts, writes that can wait are
// refused with STORE_FULL, /health is not ok and the status shows it; writes that cannot wait (the
// audit log, a delivered report's settlement) go on into the reserve. It ends by itself: free
// space is measured every few seconds while it lasts, and again at each refused write, so the first
// write after space came back is taken. A write that merely succeeds does not end it: on a full
// filesystem SQLite still fits small commits into room its files already hold, and the condition
// would come and go with every write.

import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { formatBytes } from '../bytes.js';
import {
  StoreFullError,
  freeBytesOf,
  storeFullAdvice,
  storeFullErrorOf,
  type StoreFullReason,
} from './store-full.js';

/** The condition as the status, the pages and the metrics show it. */
export interface StoreFullCondition {
  /** The file or directory that could not be written (or the data directory, when below the reserve). */
  path: string;
  /** The directory whose filesystem is measured. */
  dir: string;
  reason: StoreFullReason;
  /** Free bytes at the last measure; null when statfs failed. */
  freeBytes: number | null;
  /** The reserve kept free (`store.minFreeMb`); there is room again once this much is free. */
  minFreeBytes: number;
  sinceMs: number;
  /** The STORE_FULL message writes are refused with. */
  message: string;
}

/** What a writer needs of StoreSpace: a check before a write that can wait, and a failed write's error. */
export type StoreRoom = Pick<StoreSpace, 'ensureRoom' | 'failed'>;

export interface StoreSpaceOptions {
  /** The data directory. */
  dir: string;
  minFreeBytes: number;
  /** The setting the reserve comes from, named in refusals (`store.minFreeMb` in agent.yaml). */
  minFreeSetting: string;
  clock: Clock;
  logger: Logger;
  /** How often free space is measured while the condition lasts. */
  checkIntervalMs?: number;
  /** Free bytes on the filesystem of a directory (statfs); replaceable in tests. */
  freeBytes?: (dir: string) => Promise<number>;
}

/**
 * How long a measure may stand for the next one, and how far above the reserve (plus the write)
 * it must have been: at 350 MB/s, a quarter of a second writes less than a third of that margin.
 */
const recentMeasureMs = 250;
const comfortableBytes = 256 * 1024 * 1024;

export class StoreSpace extends EventEmitter<{ change: [StoreFullCondition | null] }> {
  readonly #dir: string;
  readonly #minFreeBytes: number;
  readonly #minFreeSetting: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #checkIntervalMs: number;
  readonly #freeBytes: (dir: string) => Promise<number>;
  /** The condition: the failure that raised it (kept as its cause), since when, the latest measure. */
  #raised: { error: StoreFullError; sinceMs: number; freeBytes: number | null } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<boolean> | undefined;
  #measuring: Promise<number | null> | undefined;
  /** The last measure and when it was taken (monotonic), for ensureRoom to reuse briefly. */
  #recent: { freeBytes: number; atMs: number } | undefined;
  #closed = false;

  constructor(options: StoreSpaceOptions) {
    super();
    this.#dir = options.dir;
    this.#minFreeBytes = options.minFreeBytes;
    this.#minFreeSetting = options.minFreeSetting;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#checkIntervalMs = options.checkIntervalMs ?? 5000;
    this.#freeBytes = options.freeBytes ?? freeBytesOf;
  }

  get dir(): string {
    return this.#dir;
  }

  /** The condition while it lasts; null when there is room. */
  get condition(): StoreFullCondition | null {
    const raised = this.#raised;
    if (!raised) return null;
    return {
      path: raised.error.path,
      dir: raised.error.dir,
      reason: raised.error.reason,
      freeBytes: raised.freeBytes,
      minFreeBytes: this.#minFreeBytes,
      sinceMs: raised.sinceMs,
      message: this.#refusal(raised).message,
    };
  }

  /**
   * Before a write that can wait (a new report, a staged file, a chunk of `neededBytes`): throws
   * STORE_FULL while the condition lasts (measuring again first, so room that came back is seen at
   * once), when free space is below the reserve (which raises the condition), or when the write
   * would take the filesystem below it (which does not: a smaller write still fits).
   */
  async ensureRoom(neededBytes = 0): Promise<void> {
    if (this.#raised && !(await this.check()) && this.#raised) throw this.#refusal(this.#raised);
    // A recent measure far above the reserve answers without another statfs (a busy agent or hub
    // asks for each group of reports and each chunk).
    const recent = this.#recent;
    if (
      !this.#raised &&
      recent &&
      performance.now() - recent.atMs < recentMeasureMs &&
      recent.freeBytes - neededBytes >= this.#minFreeBytes + comfortableBytes
    )
      return;
    const freeBytes = await this.#measure();
    if (freeBytes === null) return;
    if (freeBytes < this.#minFreeBytes) {
      const error = this.#belowReserve(freeBytes);
      this.#raise(error);
      throw error;
    }
    if (freeBytes - neededBytes < this.#minFreeBytes) {
      throw new StoreFullError(
        { path: this.#dir, dir: this.#dir, reason: 'disk', freeBytes },
        `not enough room: ${formatBytes(neededBytes)} more would leave ${this.#dir} less than the ${formatBytes(this.#minFreeBytes)} kept free (${this.#minFreeSetting}); it has ${formatBytes(freeBytes)} free`,
      );
    }
  }

  /**
   * A write of `path` failed: returns the STORE_FULL error to throw instead when it failed for lack
   * of room (and raises the condition), else `err` unchanged.
   */
  async failed(err: unknown, path: string): Promise<unknown> {
    const full = await storeFullErrorOf(err, path);
    if (!full) return err;
    this.noteFull(full);
    return full;
  }

  /** A write failed with STORE_FULL already (the SQLite driver tells this way). */
  noteFull(error: StoreFullError): void {
    this.#raise(error);
  }

  /**
   * Measures now (one measure at a time, shared by every caller) and ends the condition when there
   * is room again. Resolves true when there is room.
   */
  check(): Promise<boolean> {
    if (!this.#raised) return Promise.resolve(true);
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  /** Stops measuring. Idempotent. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #check(): Promise<boolean> {
    const raised = this.#raised;
    if (!raised) return true;
    const freeBytes = await this.#measure();
    raised.freeBytes = freeBytes;
    if (freeBytes === null || freeBytes < this.#minFreeBytes) return false;
    // A quota or a database's size limit does not show in free space: its own test says.
    const roomAgain = raised.error.roomAgain;
    if (roomAgain && !(await roomAgain().catch(() => false))) return false;
    if (this.#raised !== raised) return this.#raised === undefined;
    this.#raised = undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#logger.info(
      { storeFull: false, dir: this.#dir, freeBytes, fullForMs: this.#clock.now() - raised.sinceMs },
      `there is room again: ${this.#dir} has ${formatBytes(freeBytes)} free; new writes are taken again`,
    );
    this.emit('change', null);
    return true;
  }

  /** Free bytes of the data directory, one statfs at a time; null when it cannot be measured. */
  #measure(): Promise<number | null> {
    const startedAtMs = performance.now();
    this.#measuring ??= this.#freeBytes(this.#dir)
      .then((freeBytes) => {
        this.#recent = { freeBytes, atMs: startedAtMs };
        return freeBytes;
      })
      .catch((err: unknown) => {
        this.#logger.debug({ err, dir: this.#dir }, 'cannot measure free space');
        return null;
      })
      .finally(() => {
        this.#measuring = undefined;
      });
    return this.#measuring;
  }

  #belowReserve(freeBytes: number): StoreFullError {
    return new StoreFullError(
      { path: this.#dir, dir: this.#dir, reason: 'disk', freeBytes },
      `the disk is full: ${this.#dir} has ${formatBytes(freeBytes)} free, less than the ${formatBytes(this.#minFreeBytes)} kept free (${this.#minFreeSetting}); ${storeFullAdvice}`,
    );
  }

  /**
   * What a write is refused with while the condition lasts: the space measured last when that is
   * below the reserve, else the failure that raised it (a quota or size limit, which free space
   * does not show).
   */
  #refusal(raised: { error: StoreFullError; freeBytes: number | null }): StoreFullError {
    const { freeBytes } = raised;
    if (freeBytes !== null && freeBytes < this.#minFreeBytes && raised.error.reason === 'disk')
      return raised.error.freeBytes === freeBytes && raised.error.path === this.#dir
        ? raised.error
        : this.#belowReserve(freeBytes);
    return raised.error;
  }

  #raise(error: StoreFullError): void {
    const raised = this.#raised;
    if (raised) {
      // One condition at a time: it keeps its start and its first cause, with the newest measure.
      raised.freeBytes = error.freeBytes ?? raised.freeBytes;
      return;
    }
    this.#raised = { error, sinceMs: this.#clock.now(), freeBytes: error.freeBytes };
    this.#logger.warn(
      { storeFull: true, path: error.path, dir: error.dir, reason: error.reason, freeBytes: error.freeBytes },
      `store full: ${error.message}`,
    );
    if (!this.#closed) {
      this.#timer = setInterval(() => void this.check(), this.#checkIntervalMs);
      this.#timer.unref();
    }
    this.emit('change', this.condition);
  }
}
