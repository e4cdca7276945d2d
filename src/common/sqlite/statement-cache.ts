// Prepared statements kept by SQL text. Kysely's SQLite driver prepares every query anew, and
// preparing costs as much as running the small statements a store issues (a batch of reports
// settles with the same few statement texts every time).

import type Database from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** Statements kept at most; past that the least recently used one is dropped. */
export const defaultMaxStatements = 500;

/** A better-sqlite3 database whose `prepare` returns the statement already prepared for a text. */
export class StatementCachingDatabase implements SqliteDatabase {
  readonly #database: Database.Database;
  readonly #maxStatements: number;
  /** In use order: the first key is the least recently used. */
  readonly #statements = new Map<string, Database.Statement>();

  constructor(database: Database.Database, maxStatements = defaultMaxStatements) {
    if (!(Number.isInteger(maxStatements) && maxStatements > 0))
      throw new RangeError('maxStatements must be a positive integer');
    this.#database = database;
    this.#maxStatements = maxStatements;
  }

  /** How many statements are kept now. */
  get size(): number {
    return this.#statements.size;
  }

  prepare(sql: string): SqliteStatement {
    const kept = this.#statements.get(sql);
    // A statement still being iterated (a streamed query) cannot run again: such a caller gets a
    // statement of its own, and the kept one stays for later.
    if (kept && !kept.busy) {
      this.#statements.delete(sql);
      this.#statements.set(sql, kept);
      return kept;
    }
    const statement = this.#database.prepare(sql);
    if (kept) return statement;
    this.#statements.set(sql, statement);
    if (this.#statements.size > this.#maxStatements) {
      const oldest = this.#statements.keys().next();
      if (!oldest.done) this.#statements.delete(oldest.value);
    }
    return statement;
  }

  close(): void {
    this.#statements.clear();
    this.#database.close();
  }
}
