// What the hub keeps of call home: every report once (by its id), and the problem tickets that
// problem reports open, update and close. Portable SQL: the same code serves PostgreSQL.

import type { Kysely } from 'kysely';
import { LifelineError } from '../../../common/errors.js';
import { isStoreFailure } from '../../../common/disk/index.js';
import type { ReportEnvelope } from '../../../protocol/index.js';
import type { HubSqlDialect } from './dialect.js';
import { recordHeartbeat } from './station-health.js';
import type { HubDatabase } from './schema.js';
import type { HubReportStore, IngestAnswer, IngestItem, ProblemRecord, StoredReport } from '../reports.js';

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function toProblem(row: HubDatabase['problems']): ProblemRecord {
  return {
    number: row.number,
    stationId: row.station_id,
    localId: row.local_id,
    summary: row.summary,
    severity: row.severity,
    referenceCode: row.reference_code,
    systemSerial: row.system_serial,
    state: row.state === 'closed' ? 'closed' : 'open',
    openedAtMs: Number(row.opened_at),
    updatedAtMs: Number(row.updated_at),
    closedAtMs: row.closed_at === null ? null : Number(row.closed_at),
  };
}

function reportRow(
  stationId: string,
  { envelope, body, sha256 }: IngestItem,
  nowMs: number,
  problemNumber: string | null,
): HubDatabase['reports'] {
  return {
    id: envelope.id,
    station_id: stationId,
    kind: envelope.kind,
    created_at: envelope.createdAtMs,
    received_at: nowMs,
    order_key: envelope.orderKey,
    body,
    sha256,
    problem_number: problemNumber,
  };
}

export class SqlReportStore implements HubReportStore {
  readonly #db: Kysely<HubDatabase>;
  readonly #dialect: HubSqlDialect;

  constructor(db: Kysely<HubDatabase>, dialect: HubSqlDialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  async ingest(
    stationId: string,
    envelope: ReportEnvelope,
    body: string,
    sha256: string,
    nowMs: number,
  ): Promise<IngestAnswer> {
    return this.#dialect.write(this.#db, (trx) =>
      this.#ingestIn(trx, stationId, { envelope, body, sha256 }, nowMs),
    );
  }

  // One transaction, one durable commit. A refused report is checked before it writes anything, so
  // the batch goes on without it. A batch that raced another node for a report id runs again, and
  // then finds that report stored: each report is kept once, whichever node took it first.
  async ingestMany(
    stationId: string,
    items: readonly IngestItem[],
    nowMs: number,
  ): Promise<Array<IngestAnswer | LifelineError>> {
    return this.#dialect.write(this.#db, async (trx) => {
      // One read for the ids seen before and one insert per 100 plain reports; problem reports and
      // heartbeats, which touch other tables, go one by one.
      const seen = new Map<string, { station_id: string; problem_number: string | null }>();
      for (let k = 0; k < items.length; k += 500) {
        const ids = items.slice(k, k + 500).map((item) => item.envelope.id);
        const rows = await trx
          .selectFrom('reports')
          .select(['id', 'station_id', 'problem_number'])
          .where('id', 'in', ids)
          .execute();
        for (const row of rows) seen.set(row.id, row);
      }
      const results: Array<IngestAnswer | LifelineError> = [];
      const plain: HubDatabase['reports'][] = [];
      for (const item of items) {
        const { envelope } = item;
        const before = seen.get(envelope.id);
        if (before) {
          results.push(
            before.station_id !== stationId
              ? new LifelineError('API_BAD_REQUEST', `report ${envelope.id} belongs to another station`)
              : {
                  duplicate: true,
                  ...(before.problem_number ? { problemNumber: before.problem_number } : {}),
                },
          );
          continue;
        }
        if (envelope.kind.startsWith('problem.') || envelope.kind === 'heartbeat') {
          try {
            results.push(await this.#ingestIn(trx, stationId, item, nowMs));
          } catch (err) {
            // A storage failure (a full disk too) rolls the whole batch back.
            if (!(err instanceof LifelineError) || isStoreFailure(err)) throw err;
            results.push(err);
          }
        } else {
          plain.push(reportRow(stationId, item, nowMs, null));
          results.push({ duplicate: false });
        }
        seen.set(envelope.id, { station_id: stationId, problem_number: null });
      }
      for (let k = 0; k < plain.length; k += 100)
        await trx
          .insertInto('reports')
          .values(plain.slice(k, k + 100))
          .execute();
      return results;
    });
  }

  async #ingestIn(
    trx: Kysely<HubDatabase>,
    stationId: string,
    { envelope, body, sha256 }: IngestItem,
    nowMs: number,
  ): Promise<IngestAnswer> {
    const seen = await this.#seenBefore(trx, stationId, envelope.id);
    if (seen) return seen;
    const payload = envelope.payload;
    let problemNumber: string | undefined;
    if (envelope.kind === 'problem.open') {
      const opened = await trx
        .selectFrom('problems')
        .select('number')
        .where('station_id', '=', stationId)
        .where('local_id', '=', String(payload.localId))
        .executeTakeFirst();
      if (opened) {
        // Another hub node may have stored this very report since the check above (its problem
        // and its report commit together): then it is a duplicate, not a second opening.
        const storedMeanwhile = await this.#seenBefore(trx, stationId, envelope.id);
        if (storedMeanwhile) return storedMeanwhile;
        throw new LifelineError(
          'CALLHOME_REPORT_INVALID',
          `problem ${String(payload.localId)} is open already as ${opened.number}`,
        );
      }
      // Not max + 1: retention purges old problems, and a number once given is never given again.
      const seq = await this.#dialect.nextProblemSeq(trx);
      problemNumber = `P-${String(seq).padStart(6, '0')}`;
      const system = payload.system as { serial?: unknown } | undefined;
      await trx
        .insertInto('problems')
        .values({
          number: problemNumber,
          seq,
          station_id: stationId,
          local_id: String(payload.localId),
          summary: String(payload.summary),
          severity: String(payload.severity),
          reference_code: str(payload.referenceCode),
          system_serial: str(system?.serial),
          state: 'open',
          opened_at: nowMs,
          updated_at: nowMs,
          closed_at: null,
        })
        .execute();
    } else if (envelope.kind === 'problem.update' || envelope.kind === 'problem.close') {
      const problem = await trx
        .selectFrom('problems')
        .select('number')
        .where('station_id', '=', stationId)
        .where('local_id', '=', String(payload.localId))
        .executeTakeFirst();
      if (!problem)
        throw new LifelineError(
          'CALLHOME_REPORT_INVALID',
          `no problem ${String(payload.localId)} of this station`,
        );
      problemNumber = problem.number;
      await trx
        .updateTable('problems')
        .set(
          envelope.kind === 'problem.close'
            ? { state: 'closed', updated_at: nowMs, closed_at: nowMs }
            : { updated_at: nowMs },
        )
        .where('number', '=', problem.number)
        .execute();
    }
    await trx
      .insertInto('reports')
      .values(reportRow(stationId, { envelope, body, sha256 }, nowMs, problemNumber ?? null))
      .execute();
    if (envelope.kind === 'heartbeat') await recordHeartbeat(trx, stationId, envelope, nowMs);
    return { duplicate: false, ...(problemNumber ? { problemNumber } : {}) };
  }

  /** The answer for a report stored before, or undefined for a new one. */
  async #seenBefore(
    trx: Kysely<HubDatabase>,
    stationId: string,
    id: string,
  ): Promise<IngestAnswer | undefined> {
    const seen = await trx
      .selectFrom('reports')
      .select(['problem_number', 'station_id'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!seen) return undefined;
    if (seen.station_id !== stationId)
      throw new LifelineError('API_BAD_REQUEST', `report ${id} belongs to another station`);
    return { duplicate: true, ...(seen.problem_number ? { problemNumber: seen.problem_number } : {}) };
  }

  async listProblems(options: { open?: boolean } = {}): Promise<ProblemRecord[]> {
    let query = this.#db.selectFrom('problems').selectAll().orderBy('seq', 'desc').limit(1000);
    if (options.open) query = query.where('state', '=', 'open');
    return (await query.execute()).map(toProblem);
  }

  async getProblem(number: string): Promise<{ problem: ProblemRecord; reports: StoredReport[] } | undefined> {
    const row = await this.#db
      .selectFrom('problems')
      .selectAll()
      .where('number', '=', number)
      .executeTakeFirst();
    if (!row) return undefined;
    const reports = await this.#db
      .selectFrom('reports')
      .select(['id', 'station_id', 'kind', 'created_at', 'received_at', 'sha256', 'problem_number'])
      .where('problem_number', '=', number)
      .orderBy('received_at')
      .execute();
    return {
      problem: toProblem(row),
      reports: reports.map((r) => ({
        id: r.id,
        stationId: r.station_id,
        kind: r.kind,
        createdAtMs: Number(r.created_at),
        receivedAtMs: Number(r.received_at),
        sha256: r.sha256,
        problemNumber: r.problem_number,
      })),
    };
  }

  async closeProblem(number: string, nowMs: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('problems')
      .set({ state: 'closed', closed_at: nowMs, updated_at: nowMs })
      .where('number', '=', number)
      .where('state', '=', 'open')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
