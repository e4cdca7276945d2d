// The cluster's part of the hub store in SQL: one row for the cluster, its sealed files, and the
// nodes. A station's tunnel is held by the node named in stations.connected_node.

import type { Kysely } from 'kysely';
import type { HubDatabase } from './schema.js';
import { num, numOrNull } from './rows.js';
import type { ClusterRecord, HubClusterStore, HubNodeRecord, HubNodeState } from '../cluster.js';

function toNode(row: HubDatabase['hub_nodes']): HubNodeRecord {
  return {
    id: row.id,
    name: row.name,
    stationAddress: row.station_address,
    apiUrl: row.api_url,
    startedAtMs: num(row.started_at),
    heartbeatAtMs: num(row.heartbeat_at),
    stoppedAtMs: numOrNull(row.stopped_at),
  };
}

export class SqlClusterStore implements HubClusterStore {
  readonly #db: Kysely<HubDatabase>;

  constructor(db: Kysely<HubDatabase>) {
    this.#db = db;
  }

  async create(cluster: ClusterRecord, sealedFiles: Readonly<Record<string, string>>): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      // One row: two nodes initialising one database at once make one cluster.
      const inserted = await trx
        .insertInto('hub_cluster')
        .values({
          singleton: 'cluster',
          id: cluster.id,
          created_at: cluster.createdAtMs,
          key_check: cluster.keyCheck,
        })
        .onConflict((oc) => oc.column('singleton').doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) !== 1) return false;
      const rows = Object.entries(sealedFiles).map(([name, sealed]) => ({
        name,
        sealed,
        updated_at: cluster.createdAtMs,
      }));
      if (rows.length > 0) await trx.insertInto('hub_cluster_files').values(rows).execute();
      return true;
    });
  }

  async get(): Promise<ClusterRecord | undefined> {
    const row = await this.#db.selectFrom('hub_cluster').selectAll().executeTakeFirst();
    return row && { id: row.id, createdAtMs: num(row.created_at), keyCheck: row.key_check };
  }

  async files(): Promise<Record<string, string>> {
    const rows = await this.#db
      .selectFrom('hub_cluster_files')
      .select(['name', 'sealed'])
      .orderBy('name')
      .execute();
    return Object.fromEntries(rows.map((row) => [row.name, row.sealed]));
  }

  async filesVersion(): Promise<number> {
    const row = await this.#db.selectFrom('hub_cluster').select('files_version').executeTakeFirst();
    return row ? Number(row.files_version) : 0;
  }

  async replaceFiles(
    expectedVersion: number,
    sealedFiles: Readonly<Record<string, string>>,
    nowMs: number,
  ): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      // The conditional bump is the lock: of two nodes replacing at once, one updates the row.
      const bumped = await trx
        .updateTable('hub_cluster')
        .set({ files_version: expectedVersion + 1 })
        .where('files_version', '=', expectedVersion)
        .executeTakeFirst();
      if (Number(bumped.numUpdatedRows) !== 1) return false;
      await trx.deleteFrom('hub_cluster_files').execute();
      const rows = Object.entries(sealedFiles).map(([name, sealed]) => ({ name, sealed, updated_at: nowMs }));
      if (rows.length > 0) await trx.insertInto('hub_cluster_files').values(rows).execute();
      return true;
    });
  }

  async startNode(node: Omit<HubNodeRecord, 'heartbeatAtMs' | 'stoppedAtMs'>): Promise<void> {
    const values = {
      name: node.name,
      station_address: node.stationAddress,
      api_url: node.apiUrl,
      started_at: node.startedAtMs,
      heartbeat_at: node.startedAtMs,
      stopped_at: null,
    };
    await this.#db
      .insertInto('hub_nodes')
      .values({ id: node.id, ...values })
      .onConflict((oc) => oc.column('id').doUpdateSet(values))
      .execute();
  }

  async beat(nodeId: string, nowMs: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('hub_nodes')
      .set({ heartbeat_at: nowMs })
      .where('id', '=', nodeId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async stopNode(nodeId: string, nowMs: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('hub_nodes')
        .set({ stopped_at: nowMs, heartbeat_at: nowMs })
        .where('id', '=', nodeId)
        .execute();
      await trx
        .updateTable('stations')
        .set({ connected_since: null, connected_node: null, last_seen_at: nowMs })
        .where('connected_node', '=', nodeId)
        .execute();
    });
  }

  async listNodes(): Promise<HubNodeState[]> {
    const rows = await this.#db
      .selectFrom('hub_nodes')
      .selectAll()
      .orderBy('started_at')
      .orderBy('id')
      .execute();
    const held = await this.#db
      .selectFrom('stations')
      .select(['connected_node', (eb) => eb.fn.countAll<number>().as('stations')])
      .where('connected_node', 'is not', null)
      .groupBy('connected_node')
      .execute();
    const byNode = new Map(held.map((row) => [row.connected_node, Number(row.stations)]));
    return rows.map((row) => ({ ...toNode(row), stationsHeld: byNode.get(row.id) ?? 0 }));
  }

  async locateStation(stationId: string, nowMs: number, leaseMs: number): Promise<HubNodeRecord | undefined> {
    const row = await this.#db
      .selectFrom('stations')
      .innerJoin('hub_nodes', 'hub_nodes.id', 'stations.connected_node')
      .selectAll('hub_nodes')
      .where('stations.id', '=', stationId)
      .where('stations.connected_since', 'is not', null)
      .where('hub_nodes.stopped_at', 'is', null)
      .where('hub_nodes.heartbeat_at', '>', nowMs - leaseMs)
      .executeTakeFirst();
    return row && toNode(row);
  }

  async heldStations(
    nowMs: number,
    leaseMs: number,
  ): Promise<Map<string, { nodeId: string; connectedSinceMs: number }>> {
    const rows = await this.#db
      .selectFrom('stations')
      .innerJoin('hub_nodes', 'hub_nodes.id', 'stations.connected_node')
      .select(['stations.id as stationId', 'hub_nodes.id as nodeId', 'stations.connected_since as since'])
      .where('stations.connected_since', 'is not', null)
      .where('hub_nodes.stopped_at', 'is', null)
      .where('hub_nodes.heartbeat_at', '>', nowMs - leaseMs)
      .execute();
    return new Map(
      rows.map((row) => [row.stationId, { nodeId: row.nodeId, connectedSinceMs: Number(row.since) }]),
    );
  }

  async takeTurn(name: string, nodeId: string, nowMs: number, everyMs: number): Promise<boolean> {
    const values = { node_id: nodeId, next_at: nowMs + everyMs };
    // One statement: of nodes asking at once, the row lock lets one update; the others find the
    // turn taken (next_at in the future) and update nothing.
    const taken = await this.#db
      .insertInto('hub_turns')
      .values({ name, ...values })
      .onConflict((oc) => oc.column('name').doUpdateSet(values).where('hub_turns.next_at', '<=', nowMs))
      .returning('name')
      .executeTakeFirst();
    return taken !== undefined;
  }
}
