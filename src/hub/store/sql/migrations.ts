// The hub database's migrations, in the order they run: one list for the whole database, whose
// result is the schema in schema.ts. kysely records each name it ran in the database and runs the
// missing ones in name order, so a name once released never changes and new ones sort last
// (migrations.test.ts checks both). SQLite and PostgreSQL run the same list; where their DDL
// differs, the migration asks which one it runs on.

import { sql, type Kysely, type Migration } from 'kysely';
import type { HubSqlDialectName } from './dialect.js';

export interface HubMigration {
  readonly name: string;
  readonly up: (db: Kysely<unknown>, dialect: HubSqlDialectName) => Promise<void>;
}

export const hubMigrations: readonly HubMigration[] = [
  {
    name: '0001-initial',
    up: async (db, dialect) => {
      await db.schema
        .createTable('stations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('enrolled_at', 'bigint', (c) => c.notNull())
        .addColumn('cert_not_after', 'bigint', (c) => c.notNull())
        .addColumn('last_seen_at', 'bigint')
        .addColumn('connected_since', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema
        .createTable('enrollment_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('used_by_station', 'text')
        .execute();
      await db.schema
        .createTable('users')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('disabled_at', 'bigint')
        .execute();
      await db.schema
        .createTable('user_groups')
        .addColumn('user_name', 'text', (c) => c.notNull().references('users.name').onDelete('cascade'))
        .addColumn('group_name', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('user_groups_pk', ['user_name', 'group_name'])
        .execute();
      await db.schema
        .createTable('api_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_name', 'text', (c) => c.notNull().references('users.name').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema
        .createTable('hub_audit')
        .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('station_id', 'text')
        .addColumn('detail', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('service_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('station_id', 'text', (c) => c.notNull())
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('ended_at', 'bigint')
        .addColumn('end_reason', 'text')
        .addColumn('bytes_to_station', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('bytes_from_station', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      await sql`create index service_sessions_started on service_sessions (started_at)`.execute(db);
    },
  },
  {
    name: '0002-audit-checkpoints',
    up: async (db) => {
      await db.schema
        .createTable('audit_checkpoints')
        .addColumn('station_id', 'text', (c) => c.notNull())
        .addColumn('count', 'bigint', (c) => c.notNull())
        .addColumn('head_hash', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('signature', 'text', (c) => c.notNull())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('audit_checkpoints_pk', ['station_id', 'count'])
        .execute();
    },
  },
  {
    name: '0003-audit-checkpoint-links',
    up: async (db) => {
      await db.schema
        .alterTable('audit_checkpoints')
        .addColumn('previous_count', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('audit_checkpoints')
        .addColumn('previous_hash', 'text', (c) => c.notNull().defaultTo(''))
        .execute();
    },
  },
  {
    name: '1001-reports',
    up: async (db) => {
      await db.schema
        .createTable('reports')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('station_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addColumn('order_key', 'text')
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('problem_number', 'text')
        .execute();
      await db.schema
        .createTable('problems')
        .addColumn('number', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull().unique())
        .addColumn('station_id', 'text', (c) => c.notNull())
        .addColumn('local_id', 'text', (c) => c.notNull())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('reference_code', 'text')
        .addColumn('system_serial', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('opened_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('closed_at', 'bigint')
        .addUniqueConstraint('problems_station_local', ['station_id', 'local_id'])
        .execute();
      await sql`create index reports_station on reports (station_id, received_at)`.execute(db);
    },
  },
  {
    name: '1002-attachments',
    up: async (db) => {
      await db.schema
        .createTable('attachments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('station_id', 'text', (c) => c.notNull())
        .addColumn('problem_local_id', 'text', (c) => c.notNull())
        .addColumn('problem_number', 'text')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('bytes', 'bigint', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('chunk_bytes', 'integer', (c) => c.notNull())
        .addColumn('received_bytes', 'bigint', (c) => c.notNull())
        .addColumn('transferred_bytes', 'bigint', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('completed_at', 'bigint')
        .addColumn('removed_at', 'bigint')
        .execute();
      await sql`create index attachments_problem on attachments (problem_number)`.execute(db);
      await sql`create index attachments_completed on attachments (state, completed_at)`.execute(db);
    },
  },
  {
    name: '1003-data-requests',
    up: async (db) => {
      await db.schema
        .createTable('data_requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('problem_number', 'text', (c) => c.notNull())
        .addColumn('station_id', 'text', (c) => c.notNull())
        .addColumn('note', 'text', (c) => c.notNull())
        .addColumn('requested_by', 'text', (c) => c.notNull())
        .addColumn('requested_at', 'bigint', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('fetched_at', 'bigint')
        .addColumn('answer_note', 'text')
        .addColumn('answered_at', 'bigint')
        .addColumn('answer_received_at', 'bigint')
        .execute();
      await sql`create index data_requests_station on data_requests (station_id, state)`.execute(db);
      await sql`create index data_requests_problem on data_requests (problem_number)`.execute(db);
    },
  },
  {
    name: '1004-station-health',
    up: async (db) => {
      await db.schema
        .createTable('station_health')
        .addColumn('station_id', 'text', (c) => c.primaryKey())
        .addColumn('last_heartbeat_at', 'bigint', (c) => c.notNull())
        .addColumn('heartbeat_interval_ms', 'bigint', (c) => c.notNull())
        .addColumn('last_report_id', 'text', (c) => c.notNull())
        .addColumn('systems', 'text', (c) => c.notNull())
        .addColumn('silent_since', 'bigint')
        .execute();
      // Inventory and performance are looked up per station, kind and time.
      await sql`create index reports_station_kind on reports (station_id, kind, created_at)`.execute(db);
    },
  },
  {
    name: '1005-fixes',
    up: async (db) => {
      await db.schema
        .createTable('fixes')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('file_name', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('applies_to', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('published_at', 'bigint', (c) => c.notNull())
        .addColumn('statement', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('fixes_pk', ['name', 'version'])
        .execute();
    },
  },
  {
    name: '1006-counters',
    up: async (db) => {
      await db.schema
        .createTable('counters')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'bigint', (c) => c.notNull())
        .execute();
      // Carries on from the numbers given so far.
      await sql`insert into counters (name, value) select 'problem', coalesce(max(seq), 0) from problems`.execute(
        db,
      );
      await db.schema
        .createTable('hub_settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      // Retention looks reports up by problem and by kind and age; the problem view does too.
      await sql`create index reports_problem on reports (problem_number)`.execute(db);
      await sql`create index reports_kind on reports (kind, station_id, received_at)`.execute(db);
      await sql`create index problems_closed on problems (state, closed_at)`.execute(db);
    },
  },
  {
    name: '1007-stations-revoked-index',
    up: async (db) => {
      // Every running hub looks for newly revoked stations twice a second (revocation-watch.ts).
      await sql`create index stations_revoked_at on stations (revoked_at)`.execute(db);
    },
  },
  {
    name: '1008-user-security',
    up: async (db) => {
      await db.schema
        .createTable('user_totp')
        .addColumn('user_name', 'text', (c) => c.primaryKey().references('users.name').onDelete('cascade'))
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('enrolled_at', 'bigint', (c) => c.notNull())
        .addColumn('last_step', 'bigint')
        .execute();
      // Tokens issued before this migration were earned with a password alone.
      await db.schema
        .alterTable('api_tokens')
        .addColumn('amr', 'text', (c) => c.notNull().defaultTo('pwd'))
        .execute();
    },
  },
  {
    name: '1009-cert-serials',
    up: async (db, dialect) => {
      // Milliseconds: SQLite's integer is 64-bit, PostgreSQL's is not.
      const millis = dialect === 'postgres' ? 'bigint' : 'integer';
      await db.schema
        .createTable('station_cert_serials')
        .addColumn('serial', 'text', (col) => col.primaryKey())
        .addColumn('station_id', 'text', (col) => col.notNull())
        // SHA-256 of the issuing CA certificate: a CRL lists only its own CA's certificates.
        .addColumn('issuer_sha256', 'text', (col) => col.notNull())
        .addColumn('issued_at', millis, (col) => col.notNull())
        .addColumn('not_after', millis, (col) => col.notNull())
        .execute();
      await sql`create index station_cert_serials_station on station_cert_serials (station_id)`.execute(db);
    },
  },
  {
    name: '1010-problem-sequence',
    up: async (db, dialect) => {
      // Several hub nodes open problems at once: PostgreSQL hands out numbers from a sequence (no
      // row every node waits on), carrying on from the counter. One SQLite file has one writer at
      // a time and keeps the counter row.
      if (dialect !== 'postgres') return;
      await sql`create sequence problem_numbers`.execute(db);
      await sql`select setval('problem_numbers', greatest(value, 1), value > 0) from counters where name = 'problem'`.execute(
        db,
      );
    },
  },
  {
    name: '1011-cluster',
    up: async (db) => {
      await db.schema.alterTable('stations').addColumn('connected_node', 'text').execute();
      await sql`create index stations_connected_node on stations (connected_node)`.execute(db);
      await db.schema
        .createTable('hub_cluster')
        .addColumn('singleton', 'text', (c) => c.primaryKey())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('key_check', 'text', (c) => c.notNull())
        // Counts changes of the sealed files (a key rotation): nodes mirror a newer set.
        .addColumn('files_version', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createTable('hub_cluster_files')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('sealed', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('hub_nodes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('station_address', 'text', (c) => c.notNull())
        .addColumn('api_url', 'text', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
        .addColumn('stopped_at', 'bigint')
        .execute();
      // Jobs one node of the cluster runs per interval (retention, silent stations).
      await db.schema
        .createTable('hub_turns')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('next_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
];

/** The list as kysely's migrator takes it, for the database it runs on. */
export function hubMigrationsByName(dialect: HubSqlDialectName): Record<string, Migration> {
  return Object.fromEntries(hubMigrations.map(({ name, up }) => [name, { up: (db) => up(db, dialect) }]));
}
