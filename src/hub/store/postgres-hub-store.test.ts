// The HubStore contract on PostgreSQL (a fresh database for the run, a schema for each store), and
// what only a database shared by several hub nodes shows: migrations started by three nodes at
// once run once, a report raced to two nodes is stored once, and problem numbers never repeat.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteHubStore } from './sqlite-hub-store.js';
import { createTestDatabase, type TestDatabase } from '../../../test/harness/postgres.js';
import { describePostgresUrl, openPostgresHubStore, translatePostgresError } from './postgres-hub-store.js';
import type { HubStore } from './hub-store.js';
import { LifelineError } from '../../common/errors.js';
import { envelope, item, problemOpen, runHubStoreContract, station, t0 } from './contract/index.js';

let database: TestDatabase | undefined;
const ready = createTestDatabase().then((made) => (database = made));
before(() => ready);
after(() => database?.drop());

async function openStore(schema?: string): Promise<HubStore> {
  const made = await ready;
  return openPostgresHubStore({ url: made.url, schema: schema ?? (await made.newSchema()), poolMax: 4 });
}

runHubStoreContract('PostgreSQL hub store', () => openStore());

describe('PostgreSQL hub store shared by several nodes', () => {
  test('three nodes starting at once on an empty schema migrate it once', async () => {
    const schema = await (await ready).newSchema();
    const nodes = await Promise.all([openStore(schema), openStore(schema), openStore(schema)]);
    try {
      const recorded = await (await ready).query(`select name from ${schema}.kysely_migration order by name`);
      const names = recorded.rows.map((row: { name: string }) => row.name);
      assert.equal(new Set(names).size, names.length, 'no migration recorded twice');
      assert.ok(names.includes('1010-problem-sequence'));
    } finally {
      await Promise.all(nodes.map((node) => node.close()));
    }
  });

  test('a report delivered to two nodes at once is stored once, with one problem number', async () => {
    const schema = await (await ready).newSchema();
    const [a, b] = await Promise.all([openStore(schema), openStore(schema)]);
    try {
      await a.addStation(station('ST1'));
      const reports = Array.from({ length: 40 }, (_, i) => problemOpen(`L${i}`));
      const answers = await Promise.all(
        reports.flatMap((envelope) => [
          a.reports.ingest('ST1', envelope, JSON.stringify(envelope), 'sha', t0),
          b.reports.ingest('ST1', envelope, JSON.stringify(envelope), 'sha', t0),
        ]),
      );
      for (let i = 0; i < reports.length; i++) {
        const [first, second] = [answers[2 * i], answers[2 * i + 1]];
        assert.ok(first && second);
        assert.equal(
          [first.duplicate, second.duplicate].filter((d) => !d).length,
          1,
          `report ${i} stored once`,
        );
        assert.equal(first.problemNumber, second.problemNumber);
      }
      const problems = await b.reports.listProblems();
      assert.equal(problems.length, reports.length);
      assert.equal(new Set(problems.map((p) => p.number)).size, reports.length);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('batches of the same reports from two nodes at once keep each report once', async () => {
    const schema = await (await ready).newSchema();
    const [a, b] = await Promise.all([openStore(schema), openStore(schema)]);
    try {
      const items = Array.from({ length: 300 }, (_, i) => item(envelope('generic', { i }, t0 + i)));
      const [fromA, fromB] = await Promise.all([
        a.reports.ingestMany('ST2', items, t0),
        b.reports.ingestMany('ST2', items, t0),
      ]);
      for (let i = 0; i < items.length; i++) {
        const answers = [fromA[i], fromB[i]];
        assert.ok(
          answers.every((x) => x && !(x instanceof Error)),
          `report ${i} accepted by both`,
        );
        const stored = answers.filter((x) => x && !(x instanceof Error) && !x.duplicate);
        assert.equal(stored.length, 1, `report ${i} stored once`);
      }
      const count = await (await ready).query(`select count(*)::int as n from ${schema}.reports`);
      assert.equal((count.rows[0] as { n: number }).n, items.length);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

test('a migrated PostgreSQL schema has the tables and columns of a migrated SQLite file', async () => {
  const schema = await (await ready).newSchema();
  const store = await openStore(schema);
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-pg-schema-'));
  try {
    await (await openSqliteHubStore(join(dir, 'hub.db'))).close();
    const sqlite = new Database(join(dir, 'hub.db'), { readonly: true });
    const sqliteColumns = (
      sqlite
        .prepare(
          `select m.name as t, p.name as c from sqlite_master m join pragma_table_info(m.name) p
           where m.type = 'table' and m.name not like 'sqlite_%' and m.name not like 'kysely_%'`,
        )
        .all() as { t: string; c: string }[]
    )
      .map(({ t, c }) => `${t}.${c}`)
      .sort();
    sqlite.close();
    const postgres = await (
      await ready
    ).query(
      `select table_name as t, column_name as c from information_schema.columns
       where table_schema = $1 and table_name not like 'kysely_%'`,
      [schema],
    );
    const postgresColumns = (postgres.rows as { t: string; c: string }[])
      .map(({ t, c }) => `${t}.${c}`)
      .sort();
    assert.ok(sqliteColumns.length > 50);
    assert.deepEqual(postgresColumns, sqliteColumns);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('PostgreSQL errors', () => {
  test('an unreachable database fails with STORE_FAILED naming it without the password', async () => {
    const err = await openPostgresHubStore({ url: 'postgres://hub:s3cret@127.0.0.1:1/hub' }).then(
      () => assert.fail('opened'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof LifelineError);
    assert.equal(err.code, 'STORE_FAILED');
    assert.match(err.message, /cannot reach the hub database postgres:\/\/hub@127\.0\.0\.1:1\/hub/);
    assert.doesNotMatch(err.message, /s3cret/);
  });

  test('a database that does not exist is named, with what to do', async () => {
    const url = new URL((await ready).url);
    url.pathname = '/lifeline_no_such_database';
    const err = await openPostgresHubStore({ url: url.toString() }).then(
      () => assert.fail('opened'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof LifelineError);
    assert.match(err.message, /does not exist: create it/);
  });

  test('URLs are shown without their password', () => {
    assert.equal(
      describePostgresUrl('postgres://u:pw@db.example:5433/hub?sslmode=require'),
      'postgres://u@db.example:5433/hub',
    );
    const full = translatePostgresError(
      Object.assign(new Error('no space'), { code: '53100' }),
      'postgres://u@h/db',
    );
    assert.ok(full instanceof LifelineError);
    assert.equal(full.code, 'STORE_FULL');
  });
});
