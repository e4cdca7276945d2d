// The hub's store on PostgreSQL, for several hub nodes sharing one database. The same queries as
// SQLite (sql/), a pool of connections, bigint read back as numbers (epoch milliseconds fit), the
// migrations run under kysely's advisory lock (several nodes starting at once run them once), and
// the driver's failures turned into the store's errors, naming the database without its password.

import pg from 'pg';
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresDialect,
  type DatabaseConnection,
  type Driver,
  type MigrationProvider,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { LifelineError } from '../../common/errors.js';
import type { HubStore } from './hub-store.js';
import { SqlHubStore, hubMigrationsByName, postgresDialect, type HubDatabase } from './sql/index.js';

export interface PostgresStoreOptions {
  /** postgres://USER@HOST:PORT/DATABASE; a password here is used unless `password` is given. */
  url: string;
  /** From store.passwordFile or the environment: overrides the URL's. */
  password?: string | undefined;
  /** Most connections this process holds. */
  poolMax?: number | undefined;
  /** Where the hub's tables are (tests give each store a schema of its own); default: search_path. */
  schema?: string | undefined;
  /** Shown in pg_stat_activity, so an operator sees which node holds a connection. */
  applicationName?: string | undefined;
  /**
   * false: only read what is there, creating no table (`hub join` looks for a cluster in a
   * database it must not change if there is none). Default true.
   */
  migrate?: boolean | undefined;
}

/** The URL as it may be shown: user, host, port and database, never the password. */
export function describePostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    parsed.search = '';
    return parsed.toString();
  } catch {
    return 'postgres://(not a valid URL)';
  }
}

/** bigint and numeric (sums) come back as numbers: the hub keeps milliseconds and byte counts. */
function numberTypes(): pg.TypeOverrides {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));
  types.setTypeParser(pg.types.builtins.NUMERIC, (value: string) => Number(value));
  return types;
}

export async function openPostgresHubStore(options: PostgresStoreOptions): Promise<HubStore> {
  const where = describePostgresUrl(options.url);
  const pool = new pg.Pool({
    connectionString: options.url,
    ...(options.password !== undefined ? { password: options.password } : {}),
    max: options.poolMax ?? 10,
    types: numberTypes(),
    application_name: options.applicationName ?? 'lifeline-hub',
    connectionTimeoutMillis: 10_000,
    ...(options.schema !== undefined ? { options: `-c search_path=${quoteIdent(options.schema)}` } : {}),
  });
  // An idle connection that the server ends must not take the process down.
  pool.on('error', () => undefined);
  const db = new Kysely<HubDatabase>({ dialect: new TranslatingPostgresDialect({ pool }, where) });
  try {
    await sql1(db);
    if (options.migrate === false) return new SqlHubStore(db, postgresDialect);
    const provider: MigrationProvider = {
      getMigrations: () => Promise.resolve(hubMigrationsByName('postgres')),
    };
    const { error } = await new Migrator({
      db,
      provider,
      ...(options.schema !== undefined ? { migrationTableSchema: options.schema } : {}),
    }).migrateToLatest();
    if (error) {
      throw error instanceof LifelineError
        ? error
        : new LifelineError(
            'STORE_FAILED',
            `migrating the hub database ${where} failed: ${messageOf(error)}`,
            {
              cause: error,
            },
          );
    }
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new SqlHubStore(db, postgresDialect);
}

/** Reaches the database once, so a wrong URL or password fails at start with its reason. */
async function sql1(db: Kysely<HubDatabase>): Promise<void> {
  await db.executeQuery(CompiledQuery.raw('select 1'));
}

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name))
    throw new LifelineError('CONFIG_INVALID', `not a schema name: ${name}`);
  return name;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const unreachable = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
]);

/**
 * The store's error for a failure of the driver, or `err` unchanged: a database that cannot be
 * reached, refuses the login, does not exist or is out of disk space says so and names where it
 * is; a query that lost a race (unique key) stays as it is, for the store to handle.
 */
export function translatePostgresError(err: unknown, where: string): unknown {
  if (err instanceof LifelineError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = messageOf(err);
  if (code === '53100')
    return new LifelineError(
      'STORE_FULL',
      `the hub database ${where} is out of disk space: nothing accepted before is lost; writing resumes once the database server has room (${message})`,
      { cause: err },
    );
  if (code === '28P01' || code === '28000')
    return new LifelineError(
      'STORE_FAILED',
      `the hub database ${where} refused the login: ${message} (the password comes from store.passwordFile, LIFELINE_HUB_STORE_PASSWORD or the URL)`,
      { cause: err },
    );
  if (code === '3D000')
    return new LifelineError(
      'STORE_FAILED',
      `the hub database ${where} does not exist: create it (createdb) or correct store.url (${message})`,
      { cause: err },
    );
  const connectionLost =
    (typeof code === 'string' &&
      (unreachable.has(code) || code.startsWith('08') || code.startsWith('57P'))) ||
    /Connection terminated|timeout exceeded when trying to connect/.test(message);
  if (connectionLost)
    return new LifelineError('STORE_FAILED', `cannot reach the hub database ${where}: ${message}`, {
      cause: err,
    });
  return err;
}

/** kysely's PostgreSQL dialect whose connections throw the store's errors (translatePostgresError). */
class TranslatingPostgresDialect extends PostgresDialect {
  readonly #where: string;

  constructor(config: ConstructorParameters<typeof PostgresDialect>[0], where: string) {
    super(config);
    this.#where = where;
  }

  override createDriver(): Driver {
    return new TranslatingDriver(super.createDriver(), (err) => translatePostgresError(err, this.#where));
  }
}

class TranslatingDriver implements Driver {
  readonly #inner: Driver;
  readonly #translate: (err: unknown) => unknown;
  readonly #wrapped = new WeakMap<DatabaseConnection, TranslatingConnection>();

  constructor(inner: Driver, translate: (err: unknown) => unknown) {
    this.#inner = inner;
    this.#translate = translate;
  }

  init(): Promise<void> {
    return this.#inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    let connection: DatabaseConnection;
    try {
      connection = await this.#inner.acquireConnection();
    } catch (err) {
      throw this.#translate(err);
    }
    let wrapped = this.#wrapped.get(connection);
    if (!wrapped) {
      wrapped = new TranslatingConnection(connection, this.#translate);
      this.#wrapped.set(connection, wrapped);
    }
    return wrapped;
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#inner.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.rollbackTransaction(connection);
  }

  async savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']) {
    await this.#inner.savepoint?.(connection, name, compile);
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#inner.rollbackToSavepoint?.(connection, name, compile);
  }

  async releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ) {
    await this.#inner.releaseSavepoint?.(connection, name, compile);
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(
      connection instanceof TranslatingConnection ? connection.inner : connection,
    );
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}

class TranslatingConnection implements DatabaseConnection {
  readonly inner: DatabaseConnection;
  readonly #translate: (err: unknown) => unknown;

  constructor(inner: DatabaseConnection, translate: (err: unknown) => unknown) {
    this.inner = inner;
    this.#translate = translate;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return await this.inner.executeQuery<R>(compiledQuery);
    } catch (err) {
      throw this.#translate(err);
    }
  }

  streamQuery<R>(compiledQuery: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(compiledQuery, chunkSize);
  }
}
