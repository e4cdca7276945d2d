import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Generated, type Kysely, type Migration } from 'kysely';
import { openSqlite } from './open.js';
import { transactionFlushedAfter, walFlusherOf, WalFlusher } from './wal-flush.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-wal-flush-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

interface Tables {
  t: { id: Generated<number>; name: string };
}

const migrations: Record<string, Migration> = {
  '0001_t': {
    up: async (db) => {
      await sql`create table t (id integer primary key, name text not null unique)`.execute(db);
    },
  },
};

async function open(path = join(dir, `${++files}.db`)): Promise<Kysely<Tables>> {
  return openSqlite<Tables>(path, migrations);
}

async function safetyLevel(db: Kysely<Tables>): Promise<number> {
  const { rows } = await sql<{ synchronous: number }>`pragma synchronous`.execute(db);
  return Number(rows[0]?.synchronous);
}

describe('transactionFlushedAfter', () => {
  test('commits, flushes the WAL file, and leaves the connection at synchronous=FULL', async () => {
    const path = join(dir, `${++files}.db`);
    const db = await open(path);
    const flusher = walFlusherOf(db);
    assert.ok(flusher, 'a WAL database opened by openSqlite has a flusher');
    const before = flusher.syncs;
    const id = await transactionFlushedAfter(db, async (trx) => {
      assert.equal(await safetyLevel(trx), 1, 'NORMAL inside the transaction');
      const row = await trx.insertInto('t').values({ name: 'a' }).returning('id').executeTakeFirstOrThrow();
      return row.id;
    });
    assert.equal(id, 1);
    assert.equal(flusher.syncs, before + 1);
    assert.equal(await safetyLevel(db), 2, 'FULL again for every other transaction');
    assert.ok(statSync(`${path}-wal`).size > 0, 'the commit went to the WAL file');
    assert.deepEqual(await db.selectFrom('t').select('name').execute(), [{ name: 'a' }]);
    await db.destroy();
  });

  test('a failed transaction rolls back and still restores synchronous=FULL', async () => {
    const db = await open();
    await db.insertInto('t').values({ name: 'taken' }).execute();
    await assert.rejects(
      transactionFlushedAfter(db, async (trx) => {
        await trx.insertInto('t').values({ name: 'new' }).execute();
        await trx.insertInto('t').values({ name: 'taken' }).execute(); // unique: fails
      }),
      /UNIQUE constraint failed/,
    );
    assert.deepEqual(await db.selectFrom('t').select('name').orderBy('id').execute(), [{ name: 'taken' }]);
    assert.equal(await safetyLevel(db), 2);
    await db.destroy();
  });

  test('concurrent writers share flushes: each resolves after a flush that began after its commit', async () => {
    const db = await open();
    const flusher = walFlusherOf(db);
    assert.ok(flusher);
    const before = flusher.syncs;
    const writers = 40;
    await Promise.all(
      Array.from({ length: writers }, (_, i) =>
        transactionFlushedAfter(db, (trx) =>
          trx
            .insertInto('t')
            .values({ name: `w${i}` })
            .execute(),
        ),
      ),
    );
    const syncs = flusher.syncs - before;
    assert.ok(syncs >= 1, 'at least one flush ran');
    assert.ok(syncs < writers, `${writers} commits shared ${syncs} flushes`);
    const { n } = await db
      .selectFrom('t')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(Number(n), writers);
    await db.destroy();
  });

  test('an in-memory database has no flusher and runs a plain transaction', async () => {
    const db = await open(':memory:');
    assert.equal(walFlusherOf(db), undefined);
    await transactionFlushedAfter(db, (trx) => trx.insertInto('t').values({ name: 'm' }).execute());
    assert.equal((await db.selectFrom('t').select('name').execute()).length, 1);
    await db.destroy();
  });
});

describe('WalFlusher', () => {
  test('without a WAL file it syncs the database file itself', async () => {
    const path = join(dir, 'plain.db');
    writeFileSync(path, 'not a database, but a file to sync');
    const flusher = new WalFlusher(path);
    await flusher.flush();
    assert.equal(flusher.syncs, 1);
  });

  test('a flush requested while one runs waits for the next, which all such callers share', async () => {
    const path = join(dir, 'shared.db');
    writeFileSync(path, 'x');
    const flusher = new WalFlusher(path);
    const first = flusher.flush();
    const queued = [flusher.flush(), flusher.flush(), flusher.flush()];
    assert.equal(queued[0], queued[1], 'one promise for every caller that came during the flush');
    await Promise.all([first, ...queued]);
    assert.equal(flusher.syncs, 2);
  });

  test('a missing file fails the flush with the error', async () => {
    const flusher = new WalFlusher(join(dir, 'gone', 'nothing.db'));
    await assert.rejects(flusher.flush(), { code: 'ENOENT' });
  });
});
