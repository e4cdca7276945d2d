// The migration list against the databases it must open: every name an existing hub.db may have
// recorded is in it, in the order kysely runs them, and what it makes is the schema of HubDatabase.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { openSqlite } from '../../../common/sqlite/index.js';
import { hubMigrations, hubMigrationsByName } from './migrations.js';
import type { HubDatabase } from './schema.js';

/** Names recorded by hub databases of release 0.1.0, the first release: none may ever go. */
const releasedNames = [
  '0001-initial',
  '0002-audit-checkpoints',
  '0003-audit-checkpoint-links',
  '1001-reports',
  '1002-attachments',
  '1003-data-requests',
  '1004-station-health',
  '1005-fixes',
  '1006-counters',
  '1007-stations-revoked-index',
  '1008-user-security',
  '1009-cert-serials',
];

/** A hub database written by release 0.1.0 (test/fixtures/upgrade/make.sh). */
const releasedDatabase = fileURLToPath(
  new URL('../../../../test/fixtures/upgrade/release-0.1.0/hub/hub.db', import.meta.url),
);

/**
 * Every table and column of HubDatabase, typed so that a table or column missing here or not in
 * HubDatabase fails to compile: what the test compares with a migrated database.
 */
const schemaColumns: { [T in keyof HubDatabase]: { [C in keyof HubDatabase[T]]-?: true } } = {
  stations: {
    id: true,
    name: true,
    enrolled_at: true,
    cert_not_after: true,
    last_seen_at: true,
    connected_since: true,
    revoked_at: true,
    connected_node: true,
  },
  enrollment_tokens: { id: true, created_at: true, expires_at: true, used_at: true, used_by_station: true },
  users: { name: true, password_hash: true, created_at: true, disabled_at: true },
  user_groups: { user_name: true, group_name: true },
  api_tokens: { id: true, user_name: true, created_at: true, expires_at: true, revoked_at: true, amr: true },
  user_totp: { user_name: true, secret: true, enrolled_at: true, last_step: true },
  hub_audit: { seq: true, at: true, actor: true, action: true, station_id: true, detail: true },
  service_sessions: {
    id: true,
    station_id: true,
    user_name: true,
    service: true,
    reason: true,
    started_at: true,
    ended_at: true,
    end_reason: true,
    bytes_to_station: true,
    bytes_from_station: true,
  },
  audit_checkpoints: {
    station_id: true,
    count: true,
    head_hash: true,
    previous_count: true,
    previous_hash: true,
    at: true,
    signature: true,
    received_at: true,
  },
  reports: {
    id: true,
    station_id: true,
    kind: true,
    created_at: true,
    received_at: true,
    order_key: true,
    body: true,
    sha256: true,
    problem_number: true,
  },
  problems: {
    number: true,
    seq: true,
    station_id: true,
    local_id: true,
    summary: true,
    severity: true,
    reference_code: true,
    system_serial: true,
    state: true,
    opened_at: true,
    updated_at: true,
    closed_at: true,
  },
  counters: { name: true, value: true },
  hub_settings: { key: true, value: true },
  data_requests: {
    id: true,
    problem_number: true,
    station_id: true,
    note: true,
    requested_by: true,
    requested_at: true,
    state: true,
    fetched_at: true,
    answer_note: true,
    answered_at: true,
    answer_received_at: true,
  },
  attachments: {
    id: true,
    station_id: true,
    problem_local_id: true,
    problem_number: true,
    name: true,
    bytes: true,
    sha256: true,
    chunk_bytes: true,
    received_bytes: true,
    transferred_bytes: true,
    state: true,
    created_at: true,
    updated_at: true,
    completed_at: true,
    removed_at: true,
  },
  station_health: {
    station_id: true,
    last_heartbeat_at: true,
    heartbeat_interval_ms: true,
    last_report_id: true,
    systems: true,
    silent_since: true,
  },
  fixes: {
    name: true,
    version: true,
    file_name: true,
    path: true,
    size: true,
    sha256: true,
    applies_to: true,
    description: true,
    published_at: true,
    statement: true,
  },
  station_cert_serials: {
    serial: true,
    station_id: true,
    issuer_sha256: true,
    issued_at: true,
    not_after: true,
  },
  hub_cluster: { singleton: true, id: true, created_at: true, key_check: true, files_version: true },
  hub_cluster_files: { name: true, sealed: true, updated_at: true },
  hub_turns: { name: true, node_id: true, next_at: true },
  hub_nodes: {
    id: true,
    name: true,
    station_address: true,
    api_url: true,
    started_at: true,
    heartbeat_at: true,
    stopped_at: true,
  },
};

const dir = mkdtempSync(join(tmpdir(), 'lifeline-hub-migrations-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Tables and their columns, sorted, as the database itself describes them. */
async function tablesOf(db: Kysely<HubDatabase>): Promise<Record<string, string[]>> {
  const tables = await db.introspection.getTables();
  return Object.fromEntries(
    tables
      .map((t) => [t.name, t.columns.map((c) => c.name).sort()] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

function recordedNames(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('select name from kysely_migration order by name').all() as { name: string }[]).map(
      (row) => row.name,
    );
  } finally {
    db.close();
  }
}

test('the list holds every migration name a released hub database may have recorded', () => {
  const names = new Set(hubMigrations.map((m) => m.name));
  for (const name of releasedNames) assert.ok(names.has(name), `${name} is missing`);
  const recorded = recordedNames(releasedDatabase);
  assert.deepEqual(recorded, releasedNames, 'the fixture recorded the names released with 0.1.0');
});

test('names are unique and listed in the order kysely runs them (by name)', () => {
  const names = hubMigrations.map((m) => m.name);
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual(names, [...names].sort());
  assert.deepEqual(Object.keys(hubMigrationsByName('sqlite')), names);
});

test('a new database has exactly the tables and columns of HubDatabase', async () => {
  const db = await openSqlite<HubDatabase>(join(dir, 'new.db'), hubMigrationsByName('sqlite'));
  try {
    const expected = Object.fromEntries(
      Object.entries(schemaColumns)
        .map(([table, columns]) => [table, Object.keys(columns).sort()] as const)
        .sort(([a], [b]) => a.localeCompare(b)),
    );
    assert.deepEqual(await tablesOf(db), expected);
  } finally {
    await db.destroy();
  }
});

test('a database of release 0.1.0 opens with its data and ends with the schema of a new one', async () => {
  const copy = join(dir, 'released.db');
  copyFileSync(releasedDatabase, copy);
  const released = await openSqlite<HubDatabase>(copy, hubMigrationsByName('sqlite'));
  const fresh = await openSqlite<HubDatabase>(join(dir, 'fresh.db'), hubMigrationsByName('sqlite'));
  try {
    assert.deepEqual(await tablesOf(released), await tablesOf(fresh));
    const problems = await released.selectFrom('problems').select(['number', 'summary']).execute();
    assert.deepEqual(problems, [{ number: 'P-000001', summary: 'Fan 3 failed' }]);
    assert.equal((await released.selectFrom('stations').select('id').execute()).length, 1);
  } finally {
    await released.destroy();
    await fresh.destroy();
  }
  // The released names are kept, and the migrations added since ran once each.
  assert.deepEqual(
    recordedNames(copy),
    hubMigrations.map((m) => m.name),
  );
});
