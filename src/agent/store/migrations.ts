// The migrations of agent.db, in the one order they run. Kysely records each name it ran in the
// database (table kysely_migration) and runs the others in the order of their names (a plain
// string sort); it refuses a database whose recorded names are not the first names of the list.
// So the names never change, and a new migration's name sorts after the last one (migrations.test.ts
// checks both). Two names share the number 1003: 1003-attachment-chunk-hashes runs before
// 1003-problems ('a' sorts before 'p'), and every agent.db made so far recorded them in that order.

import { sql, type Kysely, type Migration } from 'kysely';

export interface NamedMigration extends Migration {
  readonly name: string;
}

export const agentMigrations: readonly NamedMigration[] = [
  {
    name: '0001-initial',
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('services')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('ticket_nonces')
        .addColumn('jti', 'text', (c) => c.primaryKey())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('audit')
        .addColumn('seq', 'integer', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('technician', 'text', (c) => c.notNull())
        .addColumn('technician_name', 'text', (c) => c.notNull())
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('ended_at', 'bigint')
        .addColumn('end_reason', 'text')
        .addColumn('bytes_in', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('bytes_out', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      await sql`create index ticket_nonces_expiry on ticket_nonces (expires_at)`.execute(db);
    },
  },
  {
    name: '0002-access-policy',
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('acl_rules')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('effect', 'text', (c) => c.notNull())
        .addColumn('technician', 'text')
        .addColumn('group_name', 'text')
        .addColumn('services', 'text')
        .addColumn('not_before', 'bigint')
        .addColumn('not_after', 'bigint')
        .addColumn('note', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('from_request', 'text')
        .execute();
      await db.schema
        .createTable('access_requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('technician', 'text', (c) => c.notNull())
        .addColumn('technician_name', 'text', (c) => c.notNull())
        .addColumn('groups', 'text', (c) => c.notNull())
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('first_at', 'bigint', (c) => c.notNull())
        .addColumn('last_at', 'bigint', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('decided_by', 'text')
        .addColumn('decided_at', 'bigint')
        .addColumn('note', 'text')
        .addColumn('rule_id', 'text')
        .execute();
      await sql`create index access_requests_lookup on access_requests (technician, service, status)`.execute(
        db,
      );
      await db.schema
        .createTable('one_time_grants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('technician', 'text')
        .addColumn('services', 'text')
        .addColumn('not_after', 'bigint', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('used_by_session', 'text')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema
        .createTable('refusal_counts')
        .addColumn('technician', 'text', (c) => c.primaryKey())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addColumn('last_at', 'bigint', (c) => c.notNull())
        .addColumn('last_code', 'text', (c) => c.notNull())
        .execute();
    },
  },
  {
    name: '1001-outbox',
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('outbox')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('accept_seq', 'integer', (c) => c.notNull().unique())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('order_key', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('sent_at', 'bigint')
        .addColumn('answer', 'text')
        .execute();
      await sql`create index outbox_due on outbox (state, next_attempt_at)`.execute(db);
      await sql`create index outbox_order on outbox (order_key, accept_seq)`.execute(db);
      await db.schema
        .createTable('transmissions')
        .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('report_id', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('answer', 'text', (c) => c.notNull())
        .execute();
      await sql`create index transmissions_report on transmissions (report_id)`.execute(db);
    },
  },
  {
    name: '1002-attachments',
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('attachments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('problem_local_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('chunk_bytes', 'integer', (c) => c.notNull())
        .addColumn('acked_bytes', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('uploaded_at', 'bigint')
        .addColumn('last_error', 'text')
        .execute();
      await sql`create index attachments_state on attachments (state, created_at)`.execute(db);
    },
  },
  // The SHA-256 of each chunk, computed while the file is staged, so an upload (and every resume
  // of it) sends chunks without hashing them again. Files staged before have none: hashed as sent.
  {
    name: '1003-attachment-chunk-hashes',
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('attachment_chunk_hashes')
        .addColumn('attachment_id', 'text', (c) => c.primaryKey())
        .addColumn('sha256s', 'text', (c) => c.notNull())
        .execute();
    },
  },
  {
    name: '1003-problems',
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('problems')
        .addColumn('local_id', 'text', (c) => c.primaryKey())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('reference_code', 'text')
        .addColumn('system_serial', 'text')
        .addColumn('system_type', 'text')
        .addColumn('system_model', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('opened_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('closed_at', 'bigint')
        .addColumn('last_reported_at', 'bigint', (c) => c.notNull())
        .addColumn('occurrences', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('vendor_number', 'text')
        .addColumn('open_report_id', 'text', (c) => c.notNull())
        .execute();
      await sql`create index problems_storm on problems (reference_code, system_serial, state)`.execute(db);
    },
  },
  {
    name: '1004-transmission-manifests',
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('transmissions').addColumn('manifest', 'text').execute();
    },
  },
  {
    name: '1005-data-requests',
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('data_requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('problem_number', 'text', (c) => c.notNull())
        .addColumn('local_id', 'text', (c) => c.notNull())
        .addColumn('note', 'text', (c) => c.notNull())
        .addColumn('requested_at', 'bigint', (c) => c.notNull())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('answer_note', 'text')
        .addColumn('answered_by', 'text')
        .addColumn('answered_at', 'bigint')
        .addColumn('answer_delivered_at', 'bigint')
        .execute();
      await sql`create index data_requests_undelivered on data_requests (state, answer_delivered_at)`.execute(
        db,
      );
    },
  },
  // The sender reads pending reports in acceptance order, a batch at a time: with this index it
  // reads just the batch, not every pending report sorted (see OutboxStore.nextDue).
  {
    name: '1006-outbox-pending-order',
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`create index outbox_pending_order on outbox (state, accept_seq)`.execute(db);
    },
  },
];

/**
 * The list as kysely takes it (by name). Throws when the list is not in the order kysely runs it:
 * the order written here would then not be the order that runs.
 */
export function migrationsByName(list: readonly NamedMigration[]): Record<string, Migration> {
  const byName: Record<string, Migration> = {};
  let previous = '';
  for (const { name, ...migration } of list) {
    if (!(name > previous)) throw new Error(`agent.db migration ${name} does not sort after ${previous}`);
    byName[name] = migration;
    previous = name;
  }
  return byName;
}
