// The hub's default store: one SQLite file.

import type { HubStore } from '../hub-store.js';
import { KyselyHubStore, type HubDatabase } from '../kysely-hub-store.js';
import { hubMigrations } from '../migrations/hub.js';
import { hubReportMigrations } from '../hub-reports.js';
import { hubRetentionMigrations } from '../hub-retention.js';
import { hubDataRequestMigrations } from '../hub-data-requests.js';
import { hubFixMigrations } from '../hub-fixes.js';
import { hubAttachmentMigrations } from '../hub-attachments.js';
import { hubStationHealthMigrations } from '../hub-station-health.js';
import { hubTrustMigrations } from '../hub-trust.js';
import { hubCertSerialMigrations } from '../hub-cert-serials.js';
import { hubUserSecurityMigrations } from '../hub-user-security.js';
import { openSqlite, type SqliteOpenOptions } from './open.js';

export async function openSqliteHubStore(path: string, options: SqliteOpenOptions = {}): Promise<HubStore> {
  return new KyselyHubStore(
    await openSqlite<HubDatabase>(
      path,
      {
        ...hubMigrations,
        ...hubReportMigrations,
        ...hubRetentionMigrations,
        ...hubDataRequestMigrations,
        ...hubFixMigrations,
        ...hubAttachmentMigrations,
        ...hubStationHealthMigrations,
        ...hubTrustMigrations,
        ...hubCertSerialMigrations,
        ...hubUserSecurityMigrations,
      },
      options,
    ),
  );
}
