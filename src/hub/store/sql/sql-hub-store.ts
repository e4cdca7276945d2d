// HubStore in SQL through kysely: the same queries serve SQLite and PostgreSQL (see dialect.ts).

import type { Kysely } from 'kysely';
import { SqlReportStore } from './reports.js';
import { SqlAttachmentStore } from './attachments.js';
import { SqlRetentionStore } from './retention.js';
import { SqlDataRequestStore } from './data-requests.js';
import { SqlFixStore } from './fixes.js';
import { SqlStationHealthStore } from './station-health.js';
import { SqlTrustStore } from './trust.js';
import { SqlCertSerialStore } from './cert-serials.js';
import { SqlUserSecurityStore } from './user-security.js';
import { SqlClusterStore } from './cluster.js';
import type { HubClusterStore } from '../cluster.js';
import type { HubDatabase } from './schema.js';
import type { HubSqlDialect } from './dialect.js';
import { auditRow, num, numOrNull } from './rows.js';
import type { HubAttachmentStore } from '../attachments.js';
import type { HubDataRequestStore } from '../data-requests.js';
import type { HubFixStore } from '../fixes.js';
import type { HubReportStore } from '../reports.js';
import type { HubRetentionStore } from '../retention.js';
import type { HubStationHealthStore } from '../station-health.js';
import type { HubCertSerialStore, HubTrustStore } from '../trust.js';
import type { HubUserSecurityStore } from '../user-security.js';
import type {
  AuditCheckpointRecord,
  EnrollmentTokenRecord,
  HubAuditEntry,
  HubSessionRecord,
  HubStore,
  StationRecord,
  TokenUse,
  TunnelChange,
  UserRecord,
} from '../hub-store.js';

export class SqlHubStore implements HubStore {
  readonly #db: Kysely<HubDatabase>;
  readonly reports: HubReportStore;
  readonly attachments: HubAttachmentStore;
  readonly retention: HubRetentionStore;
  readonly dataRequests: HubDataRequestStore;
  readonly fixes: HubFixStore;
  readonly health: HubStationHealthStore;
  readonly trust: HubTrustStore;
  readonly certSerials: HubCertSerialStore;
  readonly userSecurity: HubUserSecurityStore;
  readonly cluster: HubClusterStore;

  constructor(db: Kysely<HubDatabase>, dialect: HubSqlDialect) {
    this.#db = db;
    this.reports = new SqlReportStore(db, dialect);
    this.attachments = new SqlAttachmentStore(db);
    this.retention = new SqlRetentionStore(db);
    this.dataRequests = new SqlDataRequestStore(db);
    this.fixes = new SqlFixStore(db);
    this.health = new SqlStationHealthStore(db);
    this.trust = new SqlTrustStore(db);
    this.certSerials = new SqlCertSerialStore(db);
    this.userSecurity = new SqlUserSecurityStore(db);
    this.cluster = new SqlClusterStore(db);
  }

  async addEnrollmentToken(record: EnrollmentTokenRecord): Promise<void> {
    await this.#db
      .insertInto('enrollment_tokens')
      .values({
        id: record.id,
        created_at: record.createdAtMs,
        expires_at: record.expiresAtMs,
        used_at: record.usedAtMs,
        used_by_station: record.usedByStation,
      })
      .execute();
  }

  async useEnrollmentToken(id: string, stationId: string, nowMs: number): Promise<TokenUse> {
    // One conditional update: two agents racing with the same token cannot both win.
    const result = await this.#db
      .updateTable('enrollment_tokens')
      .set({ used_at: nowMs, used_by_station: stationId })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('expires_at', '>', nowMs)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 1) return { ok: true };
    const row = await this.#db
      .selectFrom('enrollment_tokens')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return { ok: false, why: 'unknown' };
    if (row.used_at !== null) return { ok: false, why: 'used' };
    return { ok: false, why: 'expired' };
  }

  async addStation(station: StationRecord): Promise<void> {
    await this.#db
      .insertInto('stations')
      .values({
        id: station.id,
        name: station.name,
        enrolled_at: station.enrolledAtMs,
        cert_not_after: station.certNotAfterMs,
        last_seen_at: station.lastSeenAtMs,
        connected_since: station.connectedSinceMs,
        revoked_at: station.revokedAtMs,
        connected_node: null,
      })
      .execute();
  }

  async getStation(id: string): Promise<StationRecord | undefined> {
    const row = await this.#db.selectFrom('stations').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toStation(row);
  }

  async listStations(): Promise<StationRecord[]> {
    const rows = await this.#db.selectFrom('stations').selectAll().orderBy('id').execute();
    return rows.map(toStation);
  }

  async clearConnections(nowMs: number, nodeId: string): Promise<void> {
    await this.#db
      .updateTable('stations')
      .set({ connected_since: null, connected_node: null, last_seen_at: nowMs })
      .where('connected_since', 'is not', null)
      .where((eb) => eb.or([eb('connected_node', '=', nodeId), eb('connected_node', 'is', null)]))
      .execute();
  }

  async recordTunnelChanges(changes: readonly TunnelChange[]): Promise<void> {
    if (changes.length === 0) return;
    await this.#db.transaction().execute(async (trx) => {
      for (const change of changes) {
        if (change.connected) {
          await trx
            .updateTable('stations')
            .set({ connected_since: change.atMs, connected_node: change.nodeId, last_seen_at: change.atMs })
            .where('id', '=', change.stationId)
            .execute();
        } else {
          await trx
            .updateTable('stations')
            .set({ connected_since: null, connected_node: null, last_seen_at: change.atMs })
            .where('id', '=', change.stationId)
            .where((eb) =>
              eb.or([eb('connected_node', '=', change.nodeId), eb('connected_node', 'is', null)]),
            )
            .execute();
        }
      }
      await trx
        .insertInto('hub_audit')
        .values(changes.map((change) => auditRow(change.audit)))
        .execute();
    });
  }

  async addUser(user: UserRecord): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .insertInto('users')
        .values({
          name: user.name,
          password_hash: user.passwordHash,
          created_at: user.createdAtMs,
          disabled_at: user.disabledAtMs,
        })
        .execute();
      if (user.groups.length > 0) {
        await trx
          .insertInto('user_groups')
          .values(user.groups.map((group) => ({ user_name: user.name, group_name: group })))
          .execute();
      }
    });
  }

  async getUser(name: string): Promise<UserRecord | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) return undefined;
    const groups = await this.#db
      .selectFrom('user_groups')
      .select('group_name')
      .where('user_name', '=', name)
      .orderBy('group_name')
      .execute();
    return {
      name: row.name,
      passwordHash: row.password_hash,
      groups: groups.map((g) => g.group_name),
      createdAtMs: num(row.created_at),
      disabledAtMs: numOrNull(row.disabled_at),
    };
  }

  async listUsers(): Promise<UserRecord[]> {
    const rows = await this.#db.selectFrom('users').select('name').orderBy('name').execute();
    const users: UserRecord[] = [];
    for (const row of rows) {
      const user = await this.getUser(row.name);
      if (user) users.push(user);
    }
    return users;
  }

  async appendAudit(entry: Omit<HubAuditEntry, 'seq'>): Promise<void> {
    await this.#db.insertInto('hub_audit').values(auditRow(entry)).execute();
  }

  async listAudit(options: { sinceMs?: number; limit?: number } = {}): Promise<HubAuditEntry[]> {
    let query = this.#db.selectFrom('hub_audit').selectAll().orderBy('seq');
    if (options.sinceMs !== undefined) query = query.where('at', '>=', options.sinceMs);
    if (options.limit !== undefined) query = query.limit(options.limit);
    const rows = await query.execute();
    return rows.map((row) => ({
      seq: num(row.seq),
      atMs: num(row.at),
      actor: row.actor,
      action: row.action,
      stationId: row.station_id,
      detail: JSON.parse(row.detail) as Record<string, unknown>,
    }));
  }

  async recordSessionStart(session: HubSessionRecord, audit?: Omit<HubAuditEntry, 'seq'>): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .insertInto('service_sessions')
        .values({
          id: session.id,
          station_id: session.stationId,
          user_name: session.userName,
          service: session.service,
          reason: session.reason,
          started_at: session.startedAtMs,
          ended_at: session.endedAtMs,
          end_reason: session.endReason,
          bytes_to_station: session.bytesToStation,
          bytes_from_station: session.bytesFromStation,
        })
        .execute();
      if (audit) await trx.insertInto('hub_audit').values(auditRow(audit)).execute();
    });
  }

  async recordSessionEnd(
    id: string,
    end: { endedAtMs: number; endReason: string; bytesToStation: number; bytesFromStation: number },
    audit?: Omit<HubAuditEntry, 'seq'>,
  ): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('service_sessions')
        .set({
          ended_at: end.endedAtMs,
          end_reason: end.endReason,
          bytes_to_station: end.bytesToStation,
          bytes_from_station: end.bytesFromStation,
        })
        .where('id', '=', id)
        .execute();
      if (audit) await trx.insertInto('hub_audit').values(auditRow(audit)).execute();
    });
  }

  async listSessions(options: { activeOnly?: boolean; limit?: number } = {}): Promise<HubSessionRecord[]> {
    let query = this.#db.selectFrom('service_sessions').selectAll().orderBy('started_at', 'desc');
    if (options.activeOnly) query = query.where('ended_at', 'is', null);
    query = query.limit(options.limit ?? 100);
    const rows = await query.execute();
    return rows.map((row) => ({
      id: row.id,
      stationId: row.station_id,
      userName: row.user_name,
      service: row.service,
      reason: row.reason,
      startedAtMs: num(row.started_at),
      endedAtMs: numOrNull(row.ended_at),
      endReason: row.end_reason,
      bytesToStation: num(row.bytes_to_station),
      bytesFromStation: num(row.bytes_from_station),
    }));
  }

  async addAuditCheckpoint(checkpoint: AuditCheckpointRecord): Promise<void> {
    await this.#db
      .insertInto('audit_checkpoints')
      .values({
        station_id: checkpoint.stationId,
        count: checkpoint.count,
        head_hash: checkpoint.headHash,
        previous_count: checkpoint.previousCount,
        previous_hash: checkpoint.previousHash,
        at: checkpoint.atMs,
        signature: checkpoint.signature,
        received_at: checkpoint.receivedAtMs,
      })
      .onConflict((oc) => oc.columns(['station_id', 'count']).doNothing())
      .execute();
  }

  async latestAuditCheckpoint(stationId: string): Promise<AuditCheckpointRecord | undefined> {
    const row = await this.#db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('station_id', '=', stationId)
      .orderBy('count', 'desc')
      .limit(1)
      .executeTakeFirst();
    return (
      row && {
        stationId: row.station_id,
        count: num(row.count),
        headHash: row.head_hash,
        previousCount: num(row.previous_count),
        previousHash: row.previous_hash,
        atMs: num(row.at),
        signature: row.signature,
        receivedAtMs: num(row.received_at),
      }
    );
  }

  async close(): Promise<void> {
    await this.#db.destroy();
  }
}

function toStation(row: HubDatabase['stations']): StationRecord {
  return {
    id: row.id,
    name: row.name,
    enrolledAtMs: num(row.enrolled_at),
    certNotAfterMs: num(row.cert_not_after),
    lastSeenAtMs: numOrNull(row.last_seen_at),
    connectedSinceMs: numOrNull(row.connected_since),
    revokedAtMs: numOrNull(row.revoked_at),
  };
}
