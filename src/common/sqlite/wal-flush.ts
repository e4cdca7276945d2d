// Durable commits that do not stall the process while the disk flushes. better-sqlite3 runs on the
// main thread, so a synchronous=FULL commit blocks every socket for the whole fsync; on a slow disk
// that is most of the time a busy agent or hub spends. A hot path instead commits with
// synchronous=NORMAL (in WAL mode the frames reach the WAL file, unsynced, and the database stays
// consistent) and then waits for an fdatasync of the WAL file on the thread pool. Flushes are shared:
// every commit made before a flush starts is durable once it ends, so concurrent writers share one.

import { open } from 'node:fs/promises';
import { sql, type Kysely, type Transaction } from 'kysely';

/** Syncs one SQLite database's WAL file; concurrent callers share flushes. */
export class WalFlusher {
  readonly #walPath: string;
  readonly #databasePath: string;
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;
  #syncs = 0;
  readonly #translate: (err: unknown) => Promise<unknown>;

  /** `translate` turns a failed sync into the error to throw (a full disk into STORE_FULL). */
  constructor(
    databasePath: string,
    translate: (err: unknown) => Promise<unknown> = (err) => Promise.resolve(err),
  ) {
    this.#databasePath = databasePath;
    this.#walPath = `${databasePath}-wal`;
    this.#translate = translate;
  }

  /** How many disk flushes ran; each covered every commit made before it started. */
  get syncs(): number {
    return this.#syncs;
  }

  /**
   * Resolves once everything committed before the call is on disk. A flush already running may
   * have started before the caller's commit reached the file, so such a caller waits for the next.
   */
  flush(): Promise<void> {
    if (!this.#running) {
      this.#running = this.#sync()
        .catch(async (err: unknown) => {
          throw await this.#translate(err);
        })
        .finally(() => {
          this.#running = undefined;
        });
      return this.#running;
    }
    this.#next ??= this.#running
      .catch(() => undefined)
      .then(() => {
        this.#next = undefined;
        return this.flush();
      });
    return this.#next;
  }

  async #sync(): Promise<void> {
    // Opened per flush: SQLite may truncate or (with its last connection) remove the WAL file,
    // and a descriptor kept from before would sync a file no longer in use.
    let handle;
    try {
      handle = await open(this.#walPath, 'r');
    } catch (err) {
      // No WAL file: everything was checkpointed into the database file, which is synced instead.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      handle = await open(this.#databasePath, 'r');
    }
    try {
      this.#syncs++;
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
}

/** The flusher of each database opened by openSqlite in WAL mode. */
const flushers = new WeakMap<object, WalFlusher>();

export function registerWalFlusher<DB>(db: Kysely<DB>, flusher: WalFlusher): void {
  flushers.set(db, flusher);
}

/** The flusher openSqlite gave `db`, if it has one. */
export function walFlusherOf<DB>(db: Kysely<DB>): WalFlusher | undefined {
  return flushers.get(db);
}

/**
 * Runs `work` in one transaction and resolves once it is committed and on disk, like a plain
 * transaction under synchronous=FULL, but with the disk flush off the main thread and shared with
 * other writers. The connection is free for the next transaction while the flush runs. A database
 * without a flusher (PostgreSQL, an in-memory SQLite) runs a plain transaction.
 */
export async function transactionFlushedAfter<DB, T>(
  db: Kysely<DB>,
  work: (trx: Transaction<DB>) => Promise<T>,
): Promise<T> {
  const flusher = flushers.get(db);
  if (!flusher) return db.transaction().execute(work);
  // SQLite refuses to change the safety level inside a transaction, so the level is set around it
  // while this callback holds the one connection: no other transaction commits with it meanwhile.
  const result = await db.connection().execute(async (connection) => {
    await sql`pragma synchronous = NORMAL`.execute(connection);
    try {
      return await connection.transaction().execute(work);
    } finally {
      await sql`pragma synchronous = FULL`.execute(connection);
    }
  });
  await flusher.flush();
  return result;
}
