// What the agent keeps on the appliance: settings, services, used ticket nonces, sessions and the
// append-only audit log. Each audit entry carries the hash of the one before it, so an edit,
// deletion or reordering breaks the chain.

import type { Kysely } from 'kysely';
import { agentMigrations, migrationsByName } from './migrations.js';
import { openSqlite, type SqliteOpenOptions } from '../../common/sqlite/index.js';
import { transactionFlushedAfter } from '../../common/sqlite/index.js';
import { LifelineError } from '../../common/errors.js';
import { auditEntryHash, genesisHash, type AuditEntry } from '../../protocol/index.js';
import type { AgentDatabase } from './database.js';

export interface ServiceRecord {
  name: string;
  host: string;
  port: number;
  createdAtMs: number;
}

export interface AgentSessionRecord {
  id: string;
  technician: string;
  technicianName: string;
  service: string;
  reason: string | null;
  startedAtMs: number;
  endedAtMs: number | null;
  endReason: string | null;
  /** Bytes from the technician to the appliance service. */
  bytesIn: number;
  /** Bytes from the appliance service to the technician. */
  bytesOut: number;
}

/** What an audit entry may be written together with (see AgentStore.appendAudit). */
export interface AuditWith {
  sessionStart?: AgentSessionRecord;
  sessionEnd?: { id: string; endedAtMs: number; endReason: string; bytesIn: number; bytesOut: number };
  nonce?: { jti: string; expiresAtMs: number };
  /** A service added, or changed if it exists; a new one is created at the entry's time. */
  putService?: Omit<ServiceRecord, 'createdAtMs'>;
  /** A service removed: POLICY_SERVICE_UNKNOWN, and nothing written, when there is none. */
  removeService?: string;
  /**
   * Settings written with the entry: a value, or an update of the value stored (undefined when
   * there is none) read in the same transaction, so no concurrent change is lost.
   */
  settings?: SettingWrite[];
}

export type SettingWrite =
  { key: string; value: unknown } | { key: string; update: (current: unknown, atMs: number) => unknown };

/** The names under which agent.db's settings table keeps the agent's own state. */
export const settingKeys = {
  stationId: 'station_id',
  callHomePausedUntil: 'callhome_paused_until',
  remoteEnabled: 'remote_enabled',
  accessLevel: 'access_level',
} as const;

export class AgentStore {
  /**
   * agent.db itself, for the features' stores (the outbox, the access policy, problems,
   * attachments, data requests): each keeps its own tables' invariants.
   */
  readonly db: Kysely<AgentDatabase>;

  constructor(db: Kysely<AgentDatabase>) {
    this.db = db;
  }

  /** Opens agent.db (made if missing) and brings its schema up to date. */
  static async open(path: string, options: SqliteOpenOptions = {}): Promise<AgentStore> {
    return new AgentStore(await openAgentDatabase(path, options));
  }

  getSetting(key: string): Promise<unknown> {
    return readSetting(this.db, key);
  }

  async setSetting(key: string, value: unknown): Promise<void> {
    await writeSetting(this.db, key, value);
  }

  async getService(name: string): Promise<ServiceRecord | undefined> {
    const row = await this.db.selectFrom('services').selectAll().where('name', '=', name).executeTakeFirst();
    return row && { name: row.name, host: row.host, port: row.port, createdAtMs: Number(row.created_at) };
  }

  async listServices(): Promise<ServiceRecord[]> {
    const rows = await this.db.selectFrom('services').selectAll().orderBy('name').execute();
    return rows.map((row) => ({
      name: row.name,
      host: row.host,
      port: row.port,
      createdAtMs: Number(row.created_at),
    }));
  }

  /**
   * Records a ticket nonce as used, on its own (most nonces are written with their decision's
   * audit entry instead). Returns false if it was used before (a replay). Nonces are kept until
   * their ticket can no longer be accepted; purgeTicketNonces forgets them after that.
   */
  async useTicketNonce(jti: string, expiresAtMs: number): Promise<boolean> {
    const result = await this.db
      .insertInto('ticket_nonces')
      .values({ jti, expires_at: expiresAtMs })
      .onConflict((oc) => oc.column('jti').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
  }

  async isTicketNonceUsed(jti: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('ticket_nonces')
      .select('jti')
      .where('jti', '=', jti)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Forgets nonces whose tickets can no longer be accepted anyway. */
  async purgeTicketNonces(nowMs: number): Promise<void> {
    await this.db.deleteFrom('ticket_nonces').where('expires_at', '<', nowMs).execute();
  }

  /**
   * Appends one audit entry, and in the same transaction (one commit, so a session start costs
   * one disk flush): the session's start or end row, the ticket nonce the entry used up, the
   * service or settings it records. So a change is stored with its entry or not at all. With a
   * nonce already used, nothing is written and TICKET_REPLAYED is thrown.
   */
  async appendAudit(
    entry: { atMs: number; actor: string; action: string; detail: Record<string, unknown> },
    with_: AuditWith = {},
  ): Promise<AuditEntry> {
    return transactionFlushedAfter(this.db, async (trx) => {
      if (with_.nonce) {
        const inserted = await trx
          .insertInto('ticket_nonces')
          .values({ jti: with_.nonce.jti, expires_at: with_.nonce.expiresAtMs })
          .onConflict((oc) => oc.column('jti').doNothing())
          .executeTakeFirst();
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) !== 1) {
          throw new LifelineError('TICKET_REPLAYED', 'the service ticket was used before (replay refused)');
        }
      }
      if (with_.sessionStart)
        await trx.insertInto('sessions').values(sessionRow(with_.sessionStart)).execute();
      if (with_.putService) await writeService(trx, { ...with_.putService, createdAtMs: entry.atMs });
      if (with_.removeService !== undefined) {
        const name = with_.removeService;
        const removed = await trx.deleteFrom('services').where('name', '=', name).executeTakeFirst();
        if (Number(removed.numDeletedRows) === 0)
          throw new LifelineError('POLICY_SERVICE_UNKNOWN', `no service named ${name}`);
      }
      for (const setting of with_.settings ?? []) {
        const value =
          'update' in setting
            ? setting.update(await readSetting(trx, setting.key), entry.atMs)
            : setting.value;
        await writeSetting(trx, setting.key, value);
      }
      if (with_.sessionEnd) {
        const end = with_.sessionEnd;
        await trx
          .updateTable('sessions')
          .set({
            ended_at: end.endedAtMs,
            end_reason: end.endReason,
            bytes_in: end.bytesIn,
            bytes_out: end.bytesOut,
          })
          .where('id', '=', end.id)
          .execute();
      }
      return appendChained(trx, entry);
    });
  }

  /**
   * Appends one audit entry inside a transaction of a feature's store on this database (an outbox
   * settlement), so the entry commits with the change it records or not at all.
   */
  appendAuditIn(
    trx: Kysely<AgentDatabase>,
    entry: { atMs: number; actor: string; action: string; detail: Record<string, unknown> },
  ): Promise<AuditEntry> {
    return appendChained(trx, entry);
  }

  async listAudit(
    options: { sinceMs?: number; afterSeq?: number; limit?: number } = {},
  ): Promise<AuditEntry[]> {
    let query = this.db.selectFrom('audit').selectAll().orderBy('seq');
    if (options.sinceMs !== undefined) query = query.where('at', '>=', options.sinceMs);
    if (options.afterSeq !== undefined) query = query.where('seq', '>', options.afterSeq);
    if (options.limit !== undefined) query = query.limit(options.limit);
    const rows = await query.execute();
    return rows.map(toAuditEntry);
  }

  async auditEntry(seq: number): Promise<AuditEntry | undefined> {
    const row = await this.db.selectFrom('audit').selectAll().where('seq', '=', seq).executeTakeFirst();
    return row && toAuditEntry(row);
  }

  /** The newest entry: the head of the chain. */
  async lastAuditEntry(): Promise<AuditEntry | undefined> {
    const row = await this.db
      .selectFrom('audit')
      .selectAll()
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && toAuditEntry(row);
  }

  /** Every entry in order, a page at a time, so that a long log is never all in memory. */
  async *iterateAudit(pageSize = 1000): AsyncGenerator<AuditEntry> {
    let afterSeq = 0;
    for (;;) {
      const page = await this.listAudit({ afterSeq, limit: pageSize });
      yield* page;
      const last = page.at(-1);
      if (!last || page.length < pageSize) return;
      afterSeq = last.seq;
    }
  }

  /** Sessions left open by a crash are closed at start-up with reason agent-shutdown. */
  async closeDanglingSessions(nowMs: number): Promise<number> {
    const result = await this.db
      .updateTable('sessions')
      .set({ ended_at: nowMs, end_reason: 'agent-shutdown' })
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async listSessions(limit = 100): Promise<AgentSessionRecord[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .selectAll()
      .orderBy('started_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((row) => ({
      id: row.id,
      technician: row.technician,
      technicianName: row.technician_name,
      service: row.service,
      reason: row.reason,
      startedAtMs: Number(row.started_at),
      endedAtMs: row.ended_at === null ? null : Number(row.ended_at),
      endReason: row.end_reason,
      bytesIn: Number(row.bytes_in),
      bytesOut: Number(row.bytes_out),
    }));
  }

  /** Closes agent.db; the features' stores on it are closed with it. */
  async close(): Promise<void> {
    await this.db.destroy();
  }
}

/** Opens agent.db with every migration (migrations.ts), as AgentStore.open does. */
export function openAgentDatabase(
  path: string,
  options: SqliteOpenOptions = {},
): Promise<Kysely<AgentDatabase>> {
  return openSqlite<AgentDatabase>(path, migrationsByName(agentMigrations), options);
}

async function readSetting(db: Kysely<AgentDatabase>, key: string): Promise<unknown> {
  const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
  return row === undefined ? undefined : (JSON.parse(row.value) as unknown);
}

async function writeSetting(db: Kysely<AgentDatabase>, key: string, value: unknown): Promise<void> {
  const text = JSON.stringify(value);
  await db
    .insertInto('settings')
    .values({ key, value: text })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: text }))
    .execute();
}

async function writeService(db: Kysely<AgentDatabase>, service: ServiceRecord): Promise<void> {
  const values = {
    name: service.name,
    host: service.host,
    port: service.port,
    created_at: service.createdAtMs,
  };
  await db
    .insertInto('services')
    .values(values)
    .onConflict((oc) => oc.column('name').doUpdateSet({ host: values.host, port: values.port }))
    .execute();
}

function sessionRow(session: AgentSessionRecord): AgentDatabase['sessions'] {
  return {
    id: session.id,
    technician: session.technician,
    technician_name: session.technicianName,
    service: session.service,
    reason: session.reason,
    started_at: session.startedAtMs,
    ended_at: null,
    end_reason: null,
    bytes_in: 0,
    bytes_out: 0,
  };
}

function toAuditEntry(row: AgentDatabase['audit']): AuditEntry {
  return {
    seq: Number(row.seq),
    atMs: Number(row.at),
    actor: row.actor,
    action: row.action,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/**
 * Writes the next entry of the hash chain in `trx`. The driver runs one transaction at a time on
 * its one connection, so the entry read as the last stays the last and the chain never forks.
 */
async function appendChained(
  trx: Kysely<AgentDatabase>,
  entry: { atMs: number; actor: string; action: string; detail: Record<string, unknown> },
): Promise<AuditEntry> {
  const last = await trx
    .selectFrom('audit')
    .select(['seq', 'hash'])
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  const unhashed = {
    seq: (last ? Number(last.seq) : 0) + 1,
    atMs: entry.atMs,
    actor: entry.actor,
    action: entry.action,
    detail: entry.detail,
    prevHash: last?.hash ?? genesisHash,
  };
  const full: AuditEntry = { ...unhashed, hash: auditEntryHash(unhashed) };
  await trx
    .insertInto('audit')
    .values({
      seq: full.seq,
      at: full.atMs,
      actor: full.actor,
      action: full.action,
      detail: JSON.stringify(full.detail),
      prev_hash: full.prevHash,
      hash: full.hash,
    })
    .execute();
  return full;
}
