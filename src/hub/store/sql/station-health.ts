// What the hub knows of each station's health: its last heartbeat, the interval it announced, the
// status of its systems, and whether the hub has declared it silent. Inventory and performance
// samples are read from the stored reports themselves, so retention of reports covers them too.

import type { Kysely } from 'kysely';
import {
  heartbeatPayloadSchema,
  inventoryPayloadSchema,
  performancePayloadSchema,
  type HeartbeatPayload,
  type ReportEnvelope,
} from '../../../protocol/index.js';
import type { HubDatabase } from './schema.js';
import type {
  HubStationHealthStore,
  StationHealth,
  StoredInventory,
  StoredSample,
} from '../station-health.js';
import { num } from './rows.js';

/**
 * Called by report ingest inside its transaction, for a heartbeat not stored before. A heartbeat
 * created before the one on record (delivered late after a retry) does not move the time back.
 */
export async function recordHeartbeat(
  db: Kysely<HubDatabase>,
  stationId: string,
  envelope: ReportEnvelope,
  nowMs: number,
): Promise<void> {
  const parsed = heartbeatPayloadSchema.safeParse(envelope.payload);
  if (!parsed.success) return;
  const values = {
    last_heartbeat_at: nowMs,
    heartbeat_interval_ms: parsed.data.intervalMs,
    last_report_id: envelope.id,
    systems: JSON.stringify(parsed.data.systems),
  };
  await db
    .insertInto('station_health')
    .values({ station_id: stationId, ...values, silent_since: null })
    .onConflict((oc) => oc.column('station_id').doUpdateSet(values))
    .execute();
}

function toHealth(row: HubDatabase['station_health']): StationHealth {
  let systems: HeartbeatPayload['systems'] = [];
  try {
    systems = heartbeatPayloadSchema.shape.systems.parse(JSON.parse(row.systems));
  } catch {
    // Written by recordHeartbeat from a checked payload; unreadable means none shown.
  }
  return {
    stationId: row.station_id,
    lastHeartbeatAtMs: num(row.last_heartbeat_at),
    heartbeatIntervalMs: num(row.heartbeat_interval_ms),
    systems,
    silentSinceMs: row.silent_since === null ? null : num(row.silent_since),
  };
}

/** Reports read per query at most: a chart of five years of 5-minute samples is not one query. */
const maxReports = 5000;

export class SqlStationHealthStore implements HubStationHealthStore {
  readonly #db: Kysely<HubDatabase>;

  constructor(db: Kysely<HubDatabase>) {
    this.#db = db;
  }

  async listHealth(): Promise<StationHealth[]> {
    const rows = await this.#db.selectFrom('station_health').selectAll().orderBy('station_id').execute();
    return rows.map(toHealth);
  }

  async markSilent(stationId: string, lastHeartbeatAtMs: number, nowMs: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('station_health')
      .set({ silent_since: nowMs })
      .where('station_id', '=', stationId)
      .where('last_heartbeat_at', '=', lastHeartbeatAtMs)
      .where('silent_since', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async markHeard(stationId: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('station_health')
      .set({ silent_since: null })
      .where('station_id', '=', stationId)
      .where('silent_since', 'is not', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async latestInventory(stationId: string): Promise<StoredInventory | undefined> {
    const row = await this.#db
      .selectFrom('reports')
      .select(['id', 'created_at', 'received_at', 'body'])
      .where('station_id', '=', stationId)
      .where('kind', '=', 'inventory')
      .orderBy('created_at', 'desc')
      .orderBy('received_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!row) return undefined;
    const inventory = inventoryPayloadSchema.safeParse(payloadOf(row.body));
    if (!inventory.success) return undefined;
    return {
      reportId: row.id,
      createdAtMs: num(row.created_at),
      receivedAtMs: num(row.received_at),
      inventory: inventory.data,
    };
  }

  // A report is made after its samples were taken: reports made before sinceMs hold none of them.
  async performanceSamples(
    stationId: string,
    sinceMs: number,
    untilMs: number,
    options: { source?: string } = {},
  ): Promise<StoredSample[]> {
    const rows = await this.#db
      .selectFrom('reports')
      .select(['id', 'body'])
      .where('station_id', '=', stationId)
      .where('kind', '=', 'performance')
      .where('created_at', '>=', sinceMs)
      .orderBy('created_at')
      .limit(maxReports)
      .execute();
    const samples: StoredSample[] = [];
    for (const row of rows) {
      const parsed = performancePayloadSchema.safeParse(payloadOf(row.body));
      if (!parsed.success) continue;
      if (options.source !== undefined && parsed.data.source !== options.source) continue;
      for (const sample of parsed.data.samples)
        if (sample.atMs >= sinceMs && sample.atMs <= untilMs)
          samples.push({ reportId: row.id, source: parsed.data.source, sample });
    }
    return samples.sort((a, b) => a.sample.atMs - b.sample.atMs);
  }
}

function payloadOf(body: string): unknown {
  try {
    return (JSON.parse(body) as { payload?: unknown }).payload;
  } catch {
    return undefined;
  }
}
