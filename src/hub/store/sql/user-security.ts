// What the hub keeps for technician identity beyond the password: TOTP secrets (with the last step
// accepted, so a code logs in once), how each bearer token was earned (its `amr`), and disabling a
// user, which revokes the user's tokens in the same transaction.

import type { Kysely } from 'kysely';
import { authMethods } from '../../../protocol/index.js';
import type { ApiTokenRecord, AuthMethod, HubUserSecurityStore, TotpEnrollment } from '../user-security.js';
import { num, numOrNull } from './rows.js';
import type { HubDatabase } from './schema.js';

export class SqlUserSecurityStore implements HubUserSecurityStore {
  readonly #db: Kysely<HubDatabase>;

  constructor(db: Kysely<HubDatabase>) {
    this.#db = db;
  }

  async getTotp(userName: string): Promise<TotpEnrollment | undefined> {
    const row = await this.#db
      .selectFrom('user_totp')
      .selectAll()
      .where('user_name', '=', userName)
      .executeTakeFirst();
    return (
      row && {
        userName: row.user_name,
        secret: row.secret,
        enrolledAtMs: num(row.enrolled_at),
        lastStep: numOrNull(row.last_step),
      }
    );
  }

  async setTotp(userName: string, secret: string, nowMs: number): Promise<void> {
    await upsertTotp(this.#db, userName, secret, nowMs);
  }

  async enrollTotp(userName: string, secret: string, nowMs: number): Promise<number> {
    return this.#db.transaction().execute(async (trx) => {
      await upsertTotp(trx, userName, secret, nowMs);
      return revokeLogins(trx, userName, nowMs);
    });
  }

  // One conditional update: two logins racing with the same code cannot both win.
  async acceptTotpStep(userName: string, step: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('user_totp')
      .set({ last_step: step })
      .where('user_name', '=', userName)
      .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async addToken(token: ApiTokenRecord): Promise<void> {
    await this.#db
      .insertInto('api_tokens')
      .values({
        id: token.id,
        user_name: token.userName,
        created_at: token.createdAtMs,
        expires_at: token.expiresAtMs,
        revoked_at: token.revokedAtMs,
        amr: token.amr.join(' '),
      })
      .execute();
  }

  async getToken(id: string): Promise<ApiTokenRecord | undefined> {
    const row = await this.#db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return (
      row && {
        id: row.id,
        userName: row.user_name,
        createdAtMs: num(row.created_at),
        expiresAtMs: num(row.expires_at),
        revokedAtMs: numOrNull(row.revoked_at),
        amr: parseAmr(row.amr),
      }
    );
  }

  async disableUser(userName: string, nowMs: number): Promise<{ changed: boolean; tokensRevoked: number }> {
    return this.#db.transaction().execute(async (trx) => {
      const disabled = await trx
        .updateTable('users')
        .set({ disabled_at: nowMs })
        .where('name', '=', userName)
        .where('disabled_at', 'is', null)
        .executeTakeFirst();
      return {
        changed: Number(disabled.numUpdatedRows) === 1,
        tokensRevoked: await revokeLogins(trx, userName, nowMs),
      };
    });
  }

  async enableUser(userName: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('users')
      .set({ disabled_at: null })
      .where('name', '=', userName)
      .where('disabled_at', 'is not', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async disabledUserNames(): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('users')
      .select('name')
      .where('disabled_at', 'is not', null)
      .orderBy('name')
      .execute();
    return rows.map((row) => row.name);
  }

  async totpUserNames(): Promise<string[]> {
    const rows = await this.#db.selectFrom('user_totp').select('user_name').orderBy('user_name').execute();
    return rows.map((row) => row.user_name);
  }
}

function parseAmr(text: string): AuthMethod[] {
  const methods = text
    .split(' ')
    .filter((m): m is AuthMethod => (authMethods as readonly string[]).includes(m));
  return methods.length > 0 ? methods : ['pwd'];
}

async function upsertTotp(
  db: Kysely<HubDatabase>,
  userName: string,
  secret: string,
  nowMs: number,
): Promise<void> {
  await db
    .insertInto('user_totp')
    .values({ user_name: userName, secret, enrolled_at: nowMs, last_step: null })
    .onConflict((oc) => oc.column('user_name').doUpdateSet({ secret, enrolled_at: nowMs, last_step: null }))
    .execute();
}

/** Revokes every login of the user not revoked yet; returns how many. */
async function revokeLogins(db: Kysely<HubDatabase>, userName: string, nowMs: number): Promise<number> {
  const revoked = await db
    .updateTable('api_tokens')
    .set({ revoked_at: nowMs })
    .where('user_name', '=', userName)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(revoked.numUpdatedRows);
}
