// The hub store in SQL through kysely: one schema, one migration list, and one set of queries for
// every SQL database the hub runs on; what differs between them is in dialect.ts.
export { SqlHubStore } from './sql-hub-store.js';
export type { HubDatabase } from './schema.js';
export { hubMigrations, hubMigrationsByName, type HubMigration } from './migrations.js';
export { postgresDialect, sqliteDialect, type HubSqlDialect, type HubSqlDialectName } from './dialect.js';
