// The hub's fix catalog: one row per published fix (name + version), with the signed statement the
// agents verify and where the file lies under the hub's data directory. Portable SQL.

import type { Kysely } from 'kysely';
import { LifelineError } from '../../../common/errors.js';
import type { HubDatabase } from './schema.js';
import type { FixRecord, HubFixStore } from '../fixes.js';

/** Most fixes a listing returns; a catalog is published by hand, so this is far beyond use. */
const maxListed = 10_000;

function toFix(row: HubDatabase['fixes']): FixRecord {
  return {
    name: row.name,
    version: row.version,
    fileName: row.file_name,
    path: row.path,
    size: Number(row.size),
    sha256: row.sha256,
    appliesTo: JSON.parse(row.applies_to) as string[],
    description: row.description,
    publishedAtMs: Number(row.published_at),
    statement: row.statement,
  };
}

export class SqlFixStore implements HubFixStore {
  readonly #db: Kysely<HubDatabase>;

  constructor(db: Kysely<HubDatabase>) {
    this.#db = db;
  }

  async add(fix: FixRecord): Promise<void> {
    const result = await this.#db
      .insertInto('fixes')
      .values({
        name: fix.name,
        version: fix.version,
        file_name: fix.fileName,
        path: fix.path,
        size: fix.size,
        sha256: fix.sha256,
        applies_to: JSON.stringify(fix.appliesTo),
        description: fix.description,
        published_at: fix.publishedAtMs,
        statement: fix.statement,
      })
      .onConflict((oc) => oc.columns(['name', 'version']).doNothing())
      .executeTakeFirst();
    if (Number(result.numInsertedOrUpdatedRows ?? 0n) !== 1) {
      throw new LifelineError('CALLHOME_FIX_EXISTS', `fix ${fix.name} ${fix.version} is published already`);
    }
  }

  async get(name: string, version: string): Promise<FixRecord | undefined> {
    const row = await this.#db
      .selectFrom('fixes')
      .selectAll()
      .where('name', '=', name)
      .where('version', '=', version)
      .executeTakeFirst();
    return row && toFix(row);
  }

  // The models are a JSON list, filtered here so that the query stays portable.
  async list(options: { model?: string | undefined } = {}): Promise<FixRecord[]> {
    const rows = await this.#db
      .selectFrom('fixes')
      .selectAll()
      .orderBy('published_at', 'desc')
      .orderBy('name')
      .orderBy('version')
      .limit(maxListed)
      .execute();
    const fixes = rows.map(toFix);
    const model = options.model;
    if (model === undefined) return fixes;
    return fixes.filter((f) => f.appliesTo.length === 0 || f.appliesTo.includes(model));
  }
}
