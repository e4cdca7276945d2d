// A fresh PostgreSQL database for one test run, on the server the machine runs (127.0.0.1:5432 by
// default; LIFELINE_TEST_POSTGRES_URL names another). Dropped again when the run ends. Schemas in
// it give each test a store of its own at the cost of a CREATE SCHEMA.

import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const adminPostgresUrl =
  process.env.LIFELINE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** postgres://... of the new database. */
  readonly url: string;
  readonly name: string;
  /** A new, empty schema in the database, for one store. */
  newSchema(): Promise<string>;
  /** Runs SQL in the database (as the admin user). */
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function createTestDatabase(prefix = 'lifeline_test'): Promise<TestDatabase> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminPostgresUrl });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `the tests need PostgreSQL at ${adminPostgresUrl} (set LIFELINE_TEST_POSTGRES_URL for another): ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminPostgresUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  let schemas = 0;
  return {
    url,
    name,
    async newSchema() {
      const schema = `s${++schemas}`;
      await pool.query(`create schema ${schema}`);
      return schema;
    },
    query: (text, values) => pool.query(text, values),
    async drop() {
      await pool.end();
      const client = new pg.Client({ connectionString: adminPostgresUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}
