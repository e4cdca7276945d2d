import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type Generated } from 'kysely';
import { StatementCachingDatabase } from './statement-cache.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-statement-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

function open(maxStatements?: number): { raw: Database.Database; cached: StatementCachingDatabase } {
  const raw = new Database(join(dir, `${++files}.db`));
  raw.exec('create table t (id integer primary key, name text not null)');
  return { raw, cached: new StatementCachingDatabase(raw, maxStatements) };
}

describe('StatementCachingDatabase', () => {
  test('the same SQL text gets the statement prepared the first time', () => {
    const { cached } = open();
    const first = cached.prepare('select name from t where id = ?');
    assert.equal(cached.prepare('select name from t where id = ?'), first);
    assert.notEqual(cached.prepare('select id from t where id = ?'), first);
    assert.equal(cached.size, 2);
    cached.close();
  });

  test('past the limit the least recently used statement is dropped', () => {
    const { cached } = open(2);
    const a = cached.prepare('select 1');
    const b = cached.prepare('select 2');
    assert.equal(cached.prepare('select 1'), a); // now 'select 2' is the least recently used
    cached.prepare('select 3');
    assert.equal(cached.size, 2);
    assert.equal(cached.prepare('select 1'), a);
    assert.notEqual(cached.prepare('select 2'), b, "'select 2' was dropped and is prepared anew");
    cached.close();
  });

  test('a statement still being iterated is not handed out again', () => {
    const { raw, cached } = open();
    raw.exec("insert into t (name) values ('a'), ('b')");
    const text = 'select name from t order by id';
    const streaming = cached.prepare(text);
    const rows = streaming.iterate([]);
    assert.deepEqual(rows.next().value, { name: 'a' });
    const meanwhile = cached.prepare(text);
    assert.notEqual(meanwhile, streaming);
    assert.deepEqual(meanwhile.all([]), [{ name: 'a' }, { name: 'b' }]);
    assert.deepEqual(rows.next().value, { name: 'b' });
    assert.equal(rows.next().done, true);
    assert.equal(cached.prepare(text), streaming, 'the kept statement is reused once it is free');
    cached.close();
  });

  test('refuses a limit that is not a positive integer', () => {
    const raw = new Database(':memory:');
    assert.throws(() => new StatementCachingDatabase(raw, 0), /positive integer/);
    raw.close();
  });

  test('behind kysely: results, inserts in a transaction and a schema change stay right', async () => {
    const { cached } = open();
    const db = new Kysely<{ t: { id: Generated<number>; name: string; note?: string | null } }>({
      dialect: new SqliteDialect({ database: cached }),
    });
    for (const name of ['a', 'b', 'c']) await db.insertInto('t').values({ name }).execute();
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('t').values({ name: 'd' }).execute();
      await trx.updateTable('t').set({ name: 'B' }).where('name', '=', 'b').execute();
    });
    const byName = (name: string) =>
      db.selectFrom('t').select('id').where('name', '=', name).executeTakeFirst();
    assert.deepEqual(await byName('B'), { id: 2 });
    assert.deepEqual(await byName('d'), { id: 4 });
    // A statement prepared before the schema changed still runs against the new schema.
    const all = () => db.selectFrom('t').selectAll().orderBy('id').execute();
    assert.equal((await all()).length, 4);
    await sql`alter table t add column note text`.execute(db);
    assert.deepEqual((await all())[0], { id: 1, name: 'a', note: null });
    await db.destroy();
  });
});
