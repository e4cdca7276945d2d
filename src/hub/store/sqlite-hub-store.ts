// The hub's default store: one SQLite file.

import type { HubStore } from './hub-store.js';
import { SqlHubStore, hubMigrationsByName, sqliteDialect, type HubDatabase } from './sql/index.js';
import { openSqlite, type SqliteOpenOptions } from '../../common/sqlite/index.js';

export async function openSqliteHubStore(path: string, options: SqliteOpenOptions = {}): Promise<HubStore> {
  return new SqlHubStore(
    await openSqlite<HubDatabase>(path, hubMigrationsByName('sqlite'), options),
    sqliteDialect,
  );
}
