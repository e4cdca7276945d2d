// What differs between the SQL databases the hub runs on, kept to one place: the queries
// themselves are the same for both (sql-hub-store.ts and its parts).

import { sql, type Kysely, type QueryExecutorProvider, type Transaction } from 'kysely';
import { transactionFlushedAfter } from '../../../common/sqlite/index.js';
import type { HubDatabase } from './schema.js';
import { nextCounterValue } from './retention.js';

export type HubSqlDialectName = 'sqlite' | 'postgres';

export interface HubSqlDialect {
  readonly name: HubSqlDialectName;
  /**
   * The next problem number, inside the caller's transaction. Never given twice, not even after
   * retention purged the newest problem, nor by two hub nodes at once.
   */
  nextProblemSeq(trx: QueryExecutorProvider): Promise<number>;
  /**
   * Runs `work` as one transaction that is durable once it resolves. A transaction that lost a race
   * with another hub node for the same row (a unique key, a serialization failure) runs once more:
   * its reads then see what the other node wrote (a report stored by node A is a duplicate for B).
   */
  write<T>(db: Kysely<HubDatabase>, work: (trx: Transaction<HubDatabase>) => Promise<T>): Promise<T>;
}

/** One SQLite file, one writer at a time: a counter row, and commits flushed off the event loop. */
export const sqliteDialect: HubSqlDialect = {
  name: 'sqlite',
  nextProblemSeq: (trx) => nextCounterValue(trx, 'problem'),
  write: (db, work) => transactionFlushedAfter(db, work),
};

/** SQLSTATEs of a transaction that lost a race and may succeed when run again. */
const lostRaceCodes = new Set([
  '23505', // unique_violation: another node inserted the same key first
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);

const maxAttempts = 3;

/** PostgreSQL shared by several hub nodes: a sequence, and transactions that may lose a race. */
export const postgresDialect: HubSqlDialect = {
  name: 'postgres',
  async nextProblemSeq(trx) {
    const result = await sql<{ value: number | string }>`select nextval('problem_numbers') as value`.execute(
      trx,
    );
    const value = result.rows[0]?.value;
    if (value === undefined) throw new Error('the problem_numbers sequence returned no value');
    return Number(value);
  },
  async write(db, work) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await db.transaction().execute(work);
      } catch (err) {
        if (attempt >= maxAttempts || !lostRaceCodes.has(sqlStateOf(err))) throw err;
      }
    }
  },
};

function sqlStateOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}
