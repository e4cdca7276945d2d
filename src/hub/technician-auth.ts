// Technician identity on the hub: login with a password, bearer tokens that expire, and the
// authorized group that may open sessions.

import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../common/clock.js';
import { LifelineError } from '../common/errors.js';
import type { HubStore, UserRecord } from '../store/index.js';
import type { HubAudit } from './hub-audit.js';
import { burnPasswordCheck, verifyPassword } from './passwords.js';

const tokenPrefix = 'llt_';
/** How long a checked login is trusted without asking the store again. */
const recentLoginMs = 2000;

export function apiTokenId(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class TechnicianAuth {
  readonly #store: HubStore;
  readonly #audit: HubAudit;
  readonly #clock: Clock;
  readonly #tokenTtlMs: number;
  readonly #authorizedGroup: string;
  /** Logins checked in the last second or two: a technician opens many sessions in a row. */
  readonly #recent = new Map<string, { user: UserRecord; checkedAtMs: number; expiresAtMs: number }>();

  constructor(options: {
    store: HubStore;
    audit: HubAudit;
    clock: Clock;
    tokenTtlMs: number;
    authorizedGroup: string;
  }) {
    this.#store = options.store;
    this.#audit = options.audit;
    this.#clock = options.clock;
    this.#tokenTtlMs = options.tokenTtlMs;
    this.#authorizedGroup = options.authorizedGroup;
  }

  get authorizedGroup(): string {
    return this.#authorizedGroup;
  }

  async login(
    name: string,
    password: string,
    remote: string,
  ): Promise<{ token: string; expiresAtMs: number; user: UserRecord }> {
    const user = await this.#store.getUser(name);
    const ok =
      user && user.disabledAtMs === null
        ? await verifyPassword(password, user.passwordHash)
        : (await burnPasswordCheck(password), false);
    if (!user || !ok) {
      await this.#audit.record(`user:${name}`, 'login.refused', null, { remote, code: 'AUTH_INVALID' });
      throw new LifelineError('AUTH_INVALID', 'wrong user name or password');
    }
    const token = tokenPrefix + randomBytes(32).toString('base64url');
    const nowMs = this.#clock.now();
    const expiresAtMs = nowMs + this.#tokenTtlMs;
    await this.#store.addApiToken({
      id: apiTokenId(token),
      userName: name,
      createdAtMs: nowMs,
      expiresAtMs,
      revokedAtMs: null,
    });
    await this.#audit.record(`user:${name}`, 'login', null, { remote });
    return { token, expiresAtMs, user };
  }

  /** The user behind a bearer token, or AUTH_REQUIRED. */
  async authenticate(authorization: string | undefined): Promise<UserRecord> {
    const token = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : '';
    if (!token.startsWith(tokenPrefix)) {
      throw new LifelineError(
        'AUTH_REQUIRED',
        'log in first: lifeline login --hub URL --user NAME --password-stdin',
      );
    }
    const id = apiTokenId(token);
    const nowMs = this.#clock.now();
    const cached = this.#recent.get(id);
    if (cached && cached.checkedAtMs + recentLoginMs > nowMs && cached.expiresAtMs > nowMs)
      return cached.user;
    const record = await this.#store.getApiToken(id);
    if (!record || record.revokedAtMs !== null)
      throw new LifelineError('AUTH_REQUIRED', 'the login is not valid: log in again');
    if (record.expiresAtMs <= nowMs)
      throw new LifelineError('AUTH_REQUIRED', 'the login has expired: log in again');
    const user = await this.#store.getUser(record.userName);
    if (!user || user.disabledAtMs !== null)
      throw new LifelineError('AUTH_REQUIRED', 'this user is disabled');
    if (this.#recent.size >= 10_000) this.#recent.clear();
    this.#recent.set(id, { user, checkedAtMs: nowMs, expiresAtMs: record.expiresAtMs });
    return user;
  }

  /** Only members of the authorized group may open sessions. */
  async requireTechnician(user: UserRecord, stationId: string, service: string): Promise<void> {
    if (user.groups.includes(this.#authorizedGroup)) return;
    await this.#audit.record(`user:${user.name}`, 'session.refused', stationId, {
      service,
      code: 'AUTH_NOT_AUTHORIZED',
      reason: `not a member of the group ${this.#authorizedGroup}`,
    });
    throw new LifelineError(
      'AUTH_NOT_AUTHORIZED',
      `user ${user.name} may not open service sessions: only members of the group ${this.#authorizedGroup} may`,
    );
  }
}
