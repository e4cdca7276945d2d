// agent.db's one migration list: every name a database made before may have recorded is in it,
// under the same name and in the order it ran, so that every existing agent.db still opens.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { AgentStore } from './agent-store.js';
import { agentMigrations, migrationsByName } from './migrations.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-agent-migrations-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Every migration an agent.db has recorded, in the order it ran: the names may never change, and
 * none may go. (Release 0.1.0 recorded all of these; see test/fixtures/upgrade.)
 */
const recordedBefore = [
  '0001-initial',
  '0002-access-policy',
  '1001-outbox',
  '1002-attachments',
  '1003-attachment-chunk-hashes',
  '1003-problems',
  '1004-transmission-manifests',
  '1005-data-requests',
  '1006-outbox-pending-order',
];

const releaseFixture = join(
  import.meta.dirname,
  '..',
  '..',
  '..',
  'test',
  'fixtures',
  'upgrade',
  'release-0.1.0',
  'agent',
);

test('the list holds every name an older agent.db may have recorded, first and in the same order', () => {
  const names = agentMigrations.map((m) => m.name);
  assert.deepEqual(names.slice(0, recordedBefore.length), recordedBefore);
});

test('the list is in the order kysely runs it (by name), so the order written is the order run', () => {
  const names = agentMigrations.map((m) => m.name);
  assert.deepEqual(names, [...names].sort());
  assert.equal(new Set(names).size, names.length, 'no name twice');
  assert.deepEqual(Object.keys(migrationsByName(agentMigrations)), names);
});

test('a list out of order is refused rather than run in another order than written', () => {
  const [first, second] = agentMigrations;
  assert.ok(first && second);
  assert.throws(
    () => migrationsByName([second, first]),
    /0001-initial does not sort after 0002-access-policy/,
  );
  assert.throws(() => migrationsByName([first, first]), /does not sort after/);
});

test("release 0.1.0's agent.db opens, runs nothing again and keeps its rows", async () => {
  const path = join(dir, 'release.db');
  for (const suffix of ['', '-wal', '-shm']) {
    const from = join(releaseFixture, `agent.db${suffix}`);
    if (existsSync(from)) copyFileSync(from, `${path}${suffix}`);
  }
  const before = new Database(path, { readonly: true });
  const recorded = before
    .prepare('select name from kysely_migration order by timestamp, name')
    .all()
    .map((row) => (row as { name: string }).name);
  const auditRows = (before.prepare('select count(*) as n from audit').get() as { n: number }).n;
  before.close();
  assert.deepEqual(recorded, recordedBefore, 'the fixture recorded every migration of release 0.1.0');

  const store = await AgentStore.open(path);
  try {
    const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
      store.db,
    );
    assert.deepEqual(
      rows.map((r) => r.name),
      agentMigrations.map((m) => m.name),
    );
    assert.ok(auditRows > 0);
    assert.equal((await store.listAudit()).length, auditRows);
    assert.ok((await store.listServices()).some((s) => s.name === 'echo'));
  } finally {
    await store.close();
  }
});

test('a new agent.db records every migration once', async () => {
  const store = await AgentStore.open(join(dir, 'new.db'));
  try {
    const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
      store.db,
    );
    assert.deepEqual(
      rows.map((r) => r.name),
      agentMigrations.map((m) => m.name),
    );
  } finally {
    await store.close();
  }
});
