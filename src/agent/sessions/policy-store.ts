// The agent's access-policy state: ACL rules, access requests, one-time grants and refusal
// counts, on agent.db (the tables of 0002-access-policy). Over 400 lines because
// the four tables, their row mapping and the cache of rules and grant belong together.

import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { AclRule, OneTimeGrant } from '../../policy/index.js';
import type { AgentDatabase } from '../store/index.js';

export interface StoredRule extends AclRule {
  note: string | null;
  createdBy: string;
  createdAtMs: number;
  fromRequest: string | null;
}

export const requestStatuses = ['pending', 'accepted', 'rejected', 'expired'] as const;
export type RequestStatus = (typeof requestStatuses)[number];

export interface AccessRequest {
  id: string;
  technician: string;
  technicianName: string;
  groups: string[];
  service: string;
  reason: string | null;
  firstAtMs: number;
  lastAtMs: number;
  attempts: number;
  status: RequestStatus;
  expiresAtMs: number;
  decidedBy: string | null;
  decidedAtMs: number | null;
  note: string | null;
  ruleId: string | null;
}

export interface StoredGrant extends OneTimeGrant {
  createdBy: string;
  createdAtMs: number;
  usedBySession: string | null;
}

export interface RefusalCount {
  technician: string;
  count: number;
  lastAtMs: number;
  lastCode: string;
}

const idAlphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function newPolicyId(prefix: 'R' | 'AR' | 'G'): string {
  let id = '';
  for (const byte of randomBytes(6)) id += idAlphabet.charAt(byte % 32);
  return `${prefix}-${id}`;
}

const list = (text: string | null): string[] | null =>
  text === null ? null : (JSON.parse(text) as string[]);
const num = (v: number | null): number | null => (v === null ? null : Number(v));

function toRule(row: AgentDatabase['acl_rules']): StoredRule {
  return {
    id: row.id,
    effect: row.effect === 'deny' ? 'deny' : 'allow',
    technician: row.technician,
    group: row.group_name,
    services: list(row.services),
    notBeforeMs: num(row.not_before),
    notAfterMs: num(row.not_after),
    note: row.note,
    createdBy: row.created_by,
    createdAtMs: Number(row.created_at),
    fromRequest: row.from_request,
  };
}

function toRequest(row: AgentDatabase['access_requests']): AccessRequest {
  return {
    id: row.id,
    technician: row.technician,
    technicianName: row.technician_name,
    groups: JSON.parse(row.groups) as string[],
    service: row.service,
    reason: row.reason,
    firstAtMs: Number(row.first_at),
    lastAtMs: Number(row.last_at),
    attempts: Number(row.attempts),
    status: (requestStatuses as readonly string[]).includes(row.status)
      ? (row.status as RequestStatus)
      : 'expired',
    expiresAtMs: Number(row.expires_at),
    decidedBy: row.decided_by,
    decidedAtMs: num(row.decided_at),
    note: row.note,
    ruleId: row.rule_id,
  };
}

function toGrant(row: AgentDatabase['one_time_grants']): StoredGrant {
  return {
    id: row.id,
    technician: row.technician,
    services: list(row.services),
    notAfterMs: Number(row.not_after),
    usedAtMs: num(row.used_at),
    createdBy: row.created_by,
    createdAtMs: Number(row.created_at),
    usedBySession: row.used_by_session,
  };
}

/** An attempt that needs approval (PolicyStore.recordRequestAttempt). */
export interface RequestAttempt {
  technician: string;
  technicianName: string;
  groups: readonly string[];
  service: string;
  reason: string | null;
  nowMs: number;
  pendingTtlMs: number;
  /** False for a technician polling the request: not another attempt. */
  countAttempt?: boolean;
}

export interface RecordedAttempt {
  request: AccessRequest;
  created: boolean;
}

export class PolicyStore {
  readonly #db: Kysely<AgentDatabase>;
  #rules: StoredRule[] | undefined;
  #grant: { value: StoredGrant | undefined } | undefined;
  /** Bumped before and after every write, so a read that overlapped a write is not cached. */
  #generation = 0;

  constructor(db: Kysely<AgentDatabase>) {
    this.#db = db;
  }

  /** Runs a write that changes rules or grants, dropping the cached copies around it. */
  async #changing<T>(write: () => Promise<T>): Promise<T> {
    this.#generation++;
    this.#rules = undefined;
    this.#grant = undefined;
    try {
      return await write();
    } finally {
      this.#generation++;
      this.#rules = undefined;
      this.#grant = undefined;
    }
  }

  async addRule(rule: StoredRule, trx?: Transaction<AgentDatabase>): Promise<void> {
    await this.#changing(() => this.#insertRule(rule, trx));
  }

  async #insertRule(rule: StoredRule, trx?: Transaction<AgentDatabase>): Promise<void> {
    await (trx ?? this.#db)
      .insertInto('acl_rules')
      .values({
        id: rule.id,
        effect: rule.effect,
        technician: rule.technician,
        group_name: rule.group,
        services: rule.services === null ? null : JSON.stringify(rule.services),
        not_before: rule.notBeforeMs,
        not_after: rule.notAfterMs,
        note: rule.note,
        created_by: rule.createdBy,
        created_at: rule.createdAtMs,
        from_request: rule.fromRequest,
      })
      .execute();
  }

  async removeRule(id: string): Promise<StoredRule | undefined> {
    const rule = await this.getRule(id);
    if (rule) await this.#changing(() => this.#db.deleteFrom('acl_rules').where('id', '=', id).execute());
    return rule;
  }

  async getRule(id: string): Promise<StoredRule | undefined> {
    const row = await this.#db.selectFrom('acl_rules').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRule(row);
  }

  async listRules(): Promise<StoredRule[]> {
    // Read at every session start: kept in memory, dropped on every change (this store is the
    // only writer of its tables).
    if (this.#rules) return [...this.#rules];
    const generation = this.#generation;
    const rules = (
      await this.#db.selectFrom('acl_rules').selectAll().orderBy('created_at').orderBy('id').execute()
    ).map(toRule);
    if (generation === this.#generation) this.#rules = rules;
    return [...rules];
  }

  /**
   * Records an attempt that needs approval. A pending request of the same technician for the
   * same service is updated (attempts, time, reason) rather than repeated; a rejected one still
   * in force is returned as it is, so a rejected technician stays refused without a new request.
   * With `maxPending` requests pending already, no new one is made: `request` is undefined.
   */
  recordRequestAttempt(attempt: RequestAttempt & { maxPending?: undefined }): Promise<RecordedAttempt>;
  recordRequestAttempt(
    attempt: RequestAttempt & { maxPending: number },
  ): Promise<RecordedAttempt | { request: undefined; pending: number }>;
  async recordRequestAttempt(
    attempt: RequestAttempt & { maxPending?: number | undefined },
  ): Promise<RecordedAttempt | { request: undefined; pending: number }> {
    return this.#db.transaction().execute(async (trx) => {
      await expireRequests(trx, attempt.nowMs);
      const existing = await trx
        .selectFrom('access_requests')
        .selectAll()
        .where('technician', '=', attempt.technician)
        .where('service', '=', attempt.service)
        .where('status', 'in', ['pending', 'rejected'])
        .where('expires_at', '>', attempt.nowMs)
        .orderBy('last_at', 'desc')
        .executeTakeFirst();
      if (existing && attempt.countAttempt === false) return { request: toRequest(existing), created: false };
      if (existing) {
        const reason = existing.status === 'pending' ? (attempt.reason ?? existing.reason) : existing.reason;
        await trx
          .updateTable('access_requests')
          .set({ attempts: Number(existing.attempts) + 1, last_at: attempt.nowMs, reason })
          .where('id', '=', existing.id)
          .execute();
        return {
          request: toRequest({
            ...existing,
            attempts: Number(existing.attempts) + 1,
            last_at: attempt.nowMs,
            reason,
          }),
          created: false,
        };
      }
      if (attempt.maxPending !== undefined) {
        const pending = await trx
          .selectFrom('access_requests')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('status', '=', 'pending')
          .where('expires_at', '>', attempt.nowMs)
          .executeTakeFirst();
        const count = Number(pending?.n ?? 0);
        if (count >= attempt.maxPending) return { request: undefined, pending: count };
      }
      const row: AgentDatabase['access_requests'] = {
        id: newPolicyId('AR'),
        technician: attempt.technician,
        technician_name: attempt.technicianName,
        groups: JSON.stringify(attempt.groups),
        service: attempt.service,
        reason: attempt.reason,
        first_at: attempt.nowMs,
        last_at: attempt.nowMs,
        attempts: 1,
        status: 'pending',
        expires_at: attempt.nowMs + attempt.pendingTtlMs,
        decided_by: null,
        decided_at: null,
        note: null,
        rule_id: null,
      };
      await trx.insertInto('access_requests').values(row).execute();
      return { request: toRequest(row), created: true };
    });
  }

  // Reads derive expiry from the time instead of writing it: a status poll costs no disk write.
  async getRequest(id: string, nowMs: number): Promise<AccessRequest | undefined> {
    const row = await this.#db
      .selectFrom('access_requests')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && asOf(toRequest(row), nowMs);
  }

  async listRequests(nowMs: number, status?: RequestStatus): Promise<AccessRequest[]> {
    const rows = await this.#db
      .selectFrom('access_requests')
      .selectAll()
      .orderBy('first_at', 'desc')
      .limit(500)
      .execute();
    const requests = rows.map((row) => asOf(toRequest(row), nowMs));
    return status ? requests.filter((r) => r.status === status) : requests;
  }

  async countPending(nowMs: number): Promise<number> {
    const row = await this.#db
      .selectFrom('access_requests')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', 'pending')
      .where('expires_at', '>', nowMs)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Accepts a pending request: the rule is created in the same transaction. */
  async acceptRequest(id: string, rule: StoredRule, by: string, nowMs: number): Promise<boolean> {
    return this.#changing(() => this.#acceptRequest(id, rule, by, nowMs));
  }

  async #acceptRequest(id: string, rule: StoredRule, by: string, nowMs: number): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('access_requests')
        .set({ status: 'accepted', decided_by: by, decided_at: nowMs, rule_id: rule.id })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return false;
      await this.#insertRule(rule, trx);
      return true;
    });
  }

  /** Rejects a pending request; the rejection holds (keeps refusing) until `holdUntilMs`. */
  async rejectRequest(
    id: string,
    by: string,
    note: string | null,
    nowMs: number,
    holdUntilMs: number,
  ): Promise<boolean> {
    const result = await this.#db
      .updateTable('access_requests')
      .set({ status: 'rejected', decided_by: by, decided_at: nowMs, note, expires_at: holdUntilMs })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** A new one-time grant replaces any grant not yet used. */
  async setGrant(grant: StoredGrant): Promise<void> {
    await this.#changing(() => this.#insertGrant(grant));
  }

  async #insertGrant(grant: StoredGrant): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('one_time_grants')
        .set({ revoked_at: grant.createdAtMs })
        .where('used_at', 'is', null)
        .where('revoked_at', 'is', null)
        .execute();
      await trx
        .insertInto('one_time_grants')
        .values({
          id: grant.id,
          technician: grant.technician,
          services: grant.services === null ? null : JSON.stringify(grant.services),
          not_after: grant.notAfterMs,
          created_by: grant.createdBy,
          created_at: grant.createdAtMs,
          used_at: null,
          used_by_session: null,
          revoked_at: null,
        })
        .execute();
    });
  }

  /** The latest grant not revoked (used or not), to show and to decide with. */
  async currentGrant(): Promise<StoredGrant | undefined> {
    if (this.#grant) return this.#grant.value && { ...this.#grant.value };
    const generation = this.#generation;
    const row = await this.#db
      .selectFrom('one_time_grants')
      .selectAll()
      .where('revoked_at', 'is', null)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    const value = row && toGrant(row);
    if (generation === this.#generation) this.#grant = { value };
    return value && { ...value };
  }

  /** Uses the grant for a session; false if another session used it first. */
  async useGrant(id: string, sessionId: string, nowMs: number): Promise<boolean> {
    return this.#changing(() => this.#markGrantUsed(id, sessionId, nowMs));
  }

  async #markGrantUsed(id: string, sessionId: string, nowMs: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('one_time_grants')
      .set({ used_at: nowMs, used_by_session: sessionId })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('not_after', '>', nowMs)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async countRefusal(technician: string, code: string, nowMs: number): Promise<void> {
    await this.#db
      .insertInto('refusal_counts')
      .values({ technician, count: 1, last_at: nowMs, last_code: code })
      .onConflict((oc) =>
        oc.column('technician').doUpdateSet((eb) => ({
          count: eb('refusal_counts.count', '+', 1),
          last_at: nowMs,
          last_code: code,
        })),
      )
      .execute();
  }

  async listRefusals(): Promise<RefusalCount[]> {
    const rows = await this.#db.selectFrom('refusal_counts').selectAll().orderBy('count', 'desc').execute();
    return rows.map((r) => ({
      technician: r.technician,
      count: Number(r.count),
      lastAtMs: Number(r.last_at),
      lastCode: r.last_code,
    }));
  }
}

/** A pending request past its time is expired, whether or not that was written yet. */
function asOf(request: AccessRequest, nowMs: number): AccessRequest {
  return request.status === 'pending' && request.expiresAtMs <= nowMs
    ? { ...request, status: 'expired' }
    : request;
}

async function expireRequests(db: Kysely<AgentDatabase>, nowMs: number): Promise<void> {
  await db
    .updateTable('access_requests')
    .set({ status: 'expired' })
    .where('status', '=', 'pending')
    .where('expires_at', '<=', nowMs)
    .execute();
}
