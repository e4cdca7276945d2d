// Opens the store hub.yaml names: the SQLite file in the data directory, or the PostgreSQL database.

import type { StoreFullError } from '../../common/disk/index.js';
import type { HubStore } from './hub-store.js';
import { openPostgresHubStore } from './postgres-hub-store.js';
import { openSqliteHubStore } from './sqlite-hub-store.js';
import { storePassword, type StoreConfig } from './store-config.js';

export interface OpenHubStoreOptions {
  store: StoreConfig;
  dataDir: string;
  /** The SQLite file, for kind sqlite. */
  sqlitePath: string;
  /** Told of every write refused for lack of room. */
  onStoreFull?: (error: StoreFullError) => void;
  /** Names this process to PostgreSQL (pg_stat_activity). */
  applicationName?: string;
}

export function openHubStore(options: OpenHubStoreOptions): Promise<HubStore> {
  const { store } = options;
  if (store.kind === 'postgres' && store.url !== undefined)
    return openPostgresHubStore({
      url: store.url,
      password: storePassword(store, options.dataDir),
      poolMax: store.poolSize,
      applicationName: options.applicationName,
    });
  return openSqliteHubStore(
    options.sqlitePath,
    options.onStoreFull ? { onStoreFull: options.onStoreFull } : {},
  );
}
