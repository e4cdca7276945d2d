// Opens a SQLite file through kysely: WAL, synchronous=FULL (a committed write survives a crash;
// hot paths flush off the main thread instead, see wal-flush.ts), foreign keys on, statements kept
// prepared by SQL text, and runs the given migrations. A write that fails for lack of room throws
// STORE_FULL, and a failed transaction reports its own error (see guarded-driver.ts).

import Database from 'better-sqlite3';
import { Kysely, Migrator, type Migration, type MigrationProvider } from 'kysely';
import { LifelineError } from '../errors.js';
import type { StoreFullError } from '../disk/index.js';
import { GuardedSqliteDialect, translateSqliteError } from './guarded-driver.js';
import { createPrivateFile } from '../disk/index.js';
import { StatementCachingDatabase } from './statement-cache.js';
import { registerWalFlusher, WalFlusher } from './wal-flush.js';

export interface SqliteOpenOptions {
  /** A bounded database: past this size a write fails with STORE_FULL as if the disk were full. */
  maxBytes?: number;
  /** The setting maxBytes comes from, named when the database reaches it. */
  maxBytesSetting?: string;
  /** Told of every write refused for lack of room (StoreSpace.noteFull). */
  onStoreFull?: (error: StoreFullError) => void;
}

export async function openSqlite<DB>(
  path: string,
  migrations: Record<string, Migration>,
  options: SqliteOpenOptions = {},
): Promise<Kysely<DB>> {
  let database: Database.Database;
  let wal: boolean;
  try {
    // Made 0600 before SQLite creates it with 0644: its -wal, -shm and journal files take its mode.
    if (path !== ':memory:') createPrivateFile(path);
    database = new Database(path);
    // An in-memory database has no WAL (and nothing to flush).
    wal = database.pragma('journal_mode = WAL', { simple: true }) === 'wal';
    database.pragma('synchronous = FULL');
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
    if (options.maxBytes !== undefined) {
      // A bounded database: past the limit a write fails as if the disk were full.
      const pageSize = Number(database.pragma('page_size', { simple: true }));
      database.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxBytes / pageSize))}`);
    }
  } catch (err) {
    throw new LifelineError('STORE_FAILED', `cannot open the database ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const fullDisk = { path, onStoreFull: options.onStoreFull, maxBytesSetting: options.maxBytesSetting };
  const db = new Kysely<DB>({
    dialect: new GuardedSqliteDialect(
      { database: new StatementCachingDatabase(database) },
      database,
      fullDisk,
    ),
  });
  if (wal)
    registerWalFlusher(db, new WalFlusher(path, (err) => translateSqliteError(err, database, fullDisk)));
  await migrate(db, migrations);
  return db;
}

export async function migrate<DB>(db: Kysely<DB>, migrations: Record<string, Migration>): Promise<void> {
  const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };
  const { error } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) throw new LifelineError('STORE_FAILED', 'database migration failed', { cause: error });
}
