import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteDialect, Kysely, sql, type Migration } from 'kysely';
import { LifelineError } from '../errors.js';
import { StoreFullError } from '../disk/index.js';
import { openSqlite } from './open.js';
import { transactionFlushedAfter } from './wal-flush.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-guarded-driver-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

interface Tables {
  t: { id: number; b: Buffer };
}

const migrations: Record<string, Migration> = {
  '0001_t': {
    up: async (db) => {
      await sql`create table t (id integer primary key, b blob not null)`.execute(db);
    },
  },
};

/** A database that holds about 200 KB: past that SQLite raises SQLITE_FULL for real. */
async function openSmall(
  onStoreFull?: (error: StoreFullError) => void,
): Promise<{ db: Kysely<Tables>; path: string }> {
  const path = join(dir, `${++files}.db`);
  const db = await openSqlite<Tables>(path, migrations, {
    maxBytes: 200_000,
    maxBytesSetting: 'store.maxSizeMb',
    ...(onStoreFull ? { onStoreFull } : {}),
  });
  return { db, path };
}

/** Inserts rows of 30 KB, two per transaction, until one fails; returns that failure. */
async function fillUntilRefused(db: Kysely<Tables>, transaction = plainTransaction): Promise<unknown> {
  for (let id = 1; id < 100; id += 2) {
    try {
      await transaction(db, async (trx) => {
        await trx
          .insertInto('t')
          .values({ id, b: Buffer.alloc(30_000, 1) })
          .execute();
        await trx
          .insertInto('t')
          .values({ id: id + 1, b: Buffer.alloc(30_000, 2) })
          .execute();
      });
    } catch (err) {
      return err;
    }
  }
  assert.fail('the database never filled up');
}

function plainTransaction(db: Kysely<Tables>, work: (trx: Kysely<Tables>) => Promise<void>): Promise<void> {
  return db.transaction().execute(work);
}

describe('the guarded SQLite driver', () => {
  test('without it, the full database hides behind "cannot rollback" (what it fixes)', async () => {
    const path = join(dir, `${++files}.db`);
    const database = new Database(path);
    database.pragma('journal_mode = WAL');
    database.pragma('max_page_count = 48');
    const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database }) });
    await sql`create table t (id integer primary key, b blob not null)`.execute(db);
    const err = await fillUntilRefused(db);
    assert.match((err as Error).message, /cannot rollback - no transaction is active/);
    await db.destroy();
  });

  test('a transaction that fills the database fails with STORE_FULL naming the file and its limit', async () => {
    const told: StoreFullError[] = [];
    const { db, path } = await openSmall((error) => told.push(error));
    const err = await fillUntilRefused(db);
    assert.ok(err instanceof StoreFullError, `got ${String(err)}`);
    assert.equal(err.code, 'STORE_FULL');
    assert.equal(err.httpStatus, 507);
    assert.equal(err.reason, 'size-limit');
    assert.equal(err.path, path);
    assert.match(
      err.message,
      new RegExp(`${path} reached its size limit of \\d+ KiB \\(store\\.maxSizeMb\\)`),
    );
    assert.match(err.message, /with [\d.]+ (bytes|KiB|MiB|GiB|TiB) free in /);
    assert.equal((err.cause as { code?: string }).code, 'SQLITE_FULL', 'the original error is the cause');
    assert.deepEqual(told, [err], 'the process is told once per refused write');
    // Nothing half-written: each transaction committed both of its rows or neither.
    const { n } = await db
      .selectFrom('t')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(Number(n) % 2, 0);
    await db.destroy();
  });

  test('through transactionFlushedAfter too, and the database takes writes again once there is room', async () => {
    const { db } = await openSmall();
    const err = await fillUntilRefused(db, (d, work) => transactionFlushedAfter(d, work));
    assert.ok(err instanceof StoreFullError, `got ${String(err)}`);
    assert.ok(err.roomAgain, 'a size limit says itself when there is room again');
    assert.equal(await err.roomAgain(), false);
    await db.deleteFrom('t').where('id', '>', 2).execute();
    assert.equal(await err.roomAgain(), true);
    await transactionFlushedAfter(db, async (trx) => {
      await trx
        .insertInto('t')
        .values({ id: 1000, b: Buffer.alloc(30_000) })
        .execute();
    });
    assert.ok(await db.selectFrom('t').select('id').where('id', '=', 1000).executeTakeFirst());
    await db.destroy();
  });

  test('a failure SQLite does not roll back itself is still rolled back, with its own error', async () => {
    const { db } = await openSmall();
    await db
      .insertInto('t')
      .values({ id: 1, b: Buffer.alloc(1) })
      .execute();
    await assert.rejects(
      db.transaction().execute(async (trx) => {
        await trx
          .insertInto('t')
          .values({ id: 2, b: Buffer.alloc(1) })
          .execute();
        await trx
          .insertInto('t')
          .values({ id: 1, b: Buffer.alloc(1) })
          .execute();
      }),
      (err: unknown) =>
        !(err instanceof LifelineError) && /UNIQUE constraint failed/.test((err as Error).message),
    );
    const ids = await db.selectFrom('t').select('id').orderBy('id').execute();
    assert.deepEqual(ids, [{ id: 1 }], 'row 2 was rolled back');
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('t')
        .values({ id: 3, b: Buffer.alloc(1) })
        .execute();
    });
    await db.destroy();
  });
});
