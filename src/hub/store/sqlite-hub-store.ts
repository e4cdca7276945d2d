// The hub's default store: one SQLite file.

import type { HubStore } from './hub-store.js';
import { KyselyHubStore, type HubDatabase } from './kysely-hub-store.js';
import { hubMigrations } from './migrations.js';
import { hubReportMigrations } from './reports.js';
import { hubRetentionMigrations } from './retention.js';
import { hubDataRequestMigrations } from './data-requests.js';
import { hubFixMigrations } from './fixes.js';
import { hubAttachmentMigrations } from './attachments.js';
import { hubStationHealthMigrations } from './station-health.js';
import { hubTrustMigrations } from './trust.js';
import { hubCertSerialMigrations } from './cert-serials.js';
import { hubUserSecurityMigrations } from './user-security.js';
import { openSqlite, type SqliteOpenOptions } from '../../common/sqlite/index.js';

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
