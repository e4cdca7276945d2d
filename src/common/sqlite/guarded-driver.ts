// Kysely's SQLite driver, with two changes for a full disk. A rollback after a failed statement is
// skipped when SQLite has rolled the transaction back already (it does so itself on SQLITE_FULL and
// on most I/O errors): kysely's ROLLBACK would then fail with "cannot rollback - no transaction is
// active", and that error would replace the one that mattered. And a statement or commit that failed
// for lack of room becomes STORE_FULL, naming the database file and the free space left.

import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import {
  SqliteDialect,
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryCompiler,
  type QueryResult,
  type SqliteDialectConfig,
} from 'kysely';
import { formatBytes } from '../bytes.js';
import { StoreFullError, freeBytesOf, storeFullErrorOf } from '../disk/index.js';

export interface FullDiskOptions {
  /** The database file, named in STORE_FULL messages. */
  path: string;
  /** Told of every STORE_FULL, so the process can show the condition (StoreSpace.noteFull). */
  onStoreFull?: ((error: StoreFullError) => void) | undefined;
  /** The setting a size limit (max_page_count) comes from, named when the database reaches it. */
  maxBytesSetting?: string | undefined;
}

/**
 * The STORE_FULL error for a failed statement of `database`, or `err` unchanged. SQLITE_FULL at the
 * database's own size limit (max_page_count) is told apart from a full disk by its page count.
 */
export async function translateSqliteError(
  err: unknown,
  database: Database.Database,
  options: FullDiskOptions,
): Promise<unknown> {
  const dir = dirname(options.path);
  const full =
    (await sizeLimitError(err, database, options, dir)) ?? (await storeFullErrorOf(err, options.path, dir));
  if (!full) return err;
  options.onStoreFull?.(full);
  return full;
}

/**
 * SQLITE_FULL because the database reached its size limit (max_page_count) rather than because
 * the disk is full: the limit was closer than the end of the free space.
 */
async function sizeLimitError(
  err: unknown,
  database: Database.Database,
  options: FullDiskOptions,
  dir: string,
): Promise<StoreFullError | undefined> {
  if ((err as { code?: unknown } | null)?.code !== 'SQLITE_FULL') return undefined;
  let leftBytes: number;
  let limitBytes: number;
  try {
    const pageBytes = pragmaNumber(database, 'page_size');
    leftBytes = pagesLeft(database) * pageBytes;
    limitBytes = pragmaNumber(database, 'max_page_count') * pageBytes;
  } catch {
    return undefined;
  }
  const freeBytes = await freeBytesOf(dir).catch(() => null);
  if (freeBytes === null ? leftBytes >= 64 * 1024 : leftBytes >= freeBytes) return undefined;
  const setting = options.maxBytesSetting ? ` (${options.maxBytesSetting})` : '';
  return new StoreFullError(
    {
      path: options.path,
      dir,
      reason: 'size-limit',
      freeBytes,
      roomAgain: () => Promise.resolve(hasRoom(database)),
    },
    `the database is full: ${options.path} reached its size limit of ${formatBytes(limitBytes)}${setting}, with ${freeBytes === null ? 'an unknown amount' : formatBytes(freeBytes)} free in ${dir}; raise the limit or delete old data: nothing accepted before is lost, and writing resumes by itself once there is room`,
    { cause: err },
  );
}

function pragmaNumber(database: Database.Database, pragma: string): number {
  return Number(database.pragma(pragma, { simple: true }));
}

/** Pages a write may still take under the size limit: free-list pages are reused first. */
function pagesLeft(database: Database.Database): number {
  return (
    pragmaNumber(database, 'max_page_count') -
    pragmaNumber(database, 'page_count') +
    pragmaNumber(database, 'freelist_count')
  );
}

/** Room again under the size limit: 1% of it and 64 pages can be written (half of a tiny one). */
function hasRoom(database: Database.Database): boolean {
  try {
    if (!database.open) return true;
    const maxPages = pragmaNumber(database, 'max_page_count');
    return pagesLeft(database) >= Math.min(maxPages / 2, Math.max(64, maxPages / 100));
  } catch {
    return false;
  }
}

/** SqliteDialect whose driver is GuardedSqliteDriver. */
export class GuardedSqliteDialect extends SqliteDialect {
  readonly #database: Database.Database;
  readonly #options: FullDiskOptions;

  constructor(config: SqliteDialectConfig, database: Database.Database, options: FullDiskOptions) {
    super(config);
    this.#database = database;
    this.#options = options;
  }

  override createDriver(): Driver {
    return new GuardedSqliteDriver(super.createDriver(), this.#database, (err) =>
      translateSqliteError(err, this.#database, this.#options),
    );
  }
}

class GuardedSqliteDriver implements Driver {
  readonly #inner: Driver;
  readonly #database: Database.Database;
  readonly #translate: (err: unknown) => Promise<unknown>;
  readonly #connections = new WeakMap<DatabaseConnection, GuardedConnection>();

  constructor(inner: Driver, database: Database.Database, translate: (err: unknown) => Promise<unknown>) {
    this.#inner = inner;
    this.#database = database;
    this.#translate = translate;
  }

  init(): Promise<void> {
    return this.#inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.#inner.acquireConnection();
    let guarded = this.#connections.get(connection);
    if (!guarded) {
      guarded = new GuardedConnection(connection, this.#translate);
      this.#connections.set(connection, guarded);
    }
    return guarded;
  }

  /**
   * Takes the write lock at once (BEGIN IMMEDIATE), waiting busy_timeout for another process that
   * holds it. A plain BEGIN takes it at the first write: if another process committed since this
   * transaction first read, SQLite refuses at once with "database is locked", whatever the timeout.
   */
  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.commitTransaction(connection);
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // Rolled back by SQLite itself: a second ROLLBACK would fail and hide the original error.
    if (!this.#database.inTransaction) return;
    await this.#inner.rollbackTransaction(connection);
  }

  async savepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#inner.savepoint?.(connection, name, compileQuery);
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    if (!this.#database.inTransaction) return;
    await this.#inner.rollbackToSavepoint?.(connection, name, compileQuery);
  }

  async releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#inner.releaseSavepoint?.(connection, name, compileQuery);
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(
      connection instanceof GuardedConnection ? connection.inner : connection,
    );
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}

class GuardedConnection implements DatabaseConnection {
  readonly inner: DatabaseConnection;
  readonly #translate: (err: unknown) => Promise<unknown>;

  constructor(inner: DatabaseConnection, translate: (err: unknown) => Promise<unknown>) {
    this.inner = inner;
    this.#translate = translate;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    try {
      // The inner connection throws synchronously: awaited here, it rejects instead.
      return await this.inner.executeQuery<R>(compiledQuery);
    } catch (err) {
      throw await this.#translate(err);
    }
  }

  async *streamQuery<R>(
    compiledQuery: CompiledQuery,
    chunkSize?: number,
  ): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(compiledQuery, chunkSize);
    } catch (err) {
      throw await this.#translate(err);
    }
  }
}
