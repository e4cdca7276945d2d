// Technician identity on the hub: login with a password (and a TOTP code for enrolled users), rate
// limited per user and per address; bearer tokens that expire and record how they were earned; and
// the authorized group that may open sessions.

import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import type { AuthMethod } from '../store/index.js';
import type { HubStore, UserRecord } from '../store/index.js';
import type { HubAudit } from '../audit/index.js';
import type { LoginLimiter, LoginScope } from './login-limiter.js';
import { burnPasswordCheck, verifyPassword } from './passwords.js';
import { matchTotpStep } from './totp.js';

const tokenPrefix = 'llt_';
/** How long a checked login is trusted without asking the store again. */
const recentLoginMs = 2000;
const loginHint = 'lifeline login --hub URL --user NAME --password-stdin';

export function apiTokenId(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A login refused by the rate limit; the API tells the client when to try again. */
export class LoginRateLimited extends LifelineError {
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number) {
    super('AUTH_RATE_LIMITED', message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** What a login refused by a limit is told: which limit, and when to try again. */
function rateLimitMessage(scope: LoginScope, name: string, remote: string, seconds: number): string {
  switch (scope) {
    case 'pair':
      return `too many failed logins for user ${name} from ${remote}: try again in ${seconds} s`;
    case 'user':
      return `too many failed logins for user ${name}, some of them from ${remote}: try again from there in ${seconds} s`;
    case 'address':
      return `too many failed logins from ${remote}: try again in ${seconds} s`;
  }
}

export interface Authenticated {
  user: UserRecord;
  /** How the login behind the token was checked. */
  amr: AuthMethod[];
}

export class TechnicianAuth {
  readonly #store: HubStore;
  readonly #audit: HubAudit;
  readonly #clock: Clock;
  readonly #tokenTtlMs: number;
  readonly #authorizedGroup: string;
  readonly #limiter: LoginLimiter;
  /** Logins checked in the last second or two: a technician opens many sessions in a row. */
  readonly #recent = new Map<string, Authenticated & { checkedAtMs: number; expiresAtMs: number }>();

  constructor(options: {
    store: HubStore;
    audit: HubAudit;
    clock: Clock;
    tokenTtlMs: number;
    authorizedGroup: string;
    limiter: LoginLimiter;
  }) {
    this.#store = options.store;
    this.#audit = options.audit;
    this.#clock = options.clock;
    this.#tokenTtlMs = options.tokenTtlMs;
    this.#authorizedGroup = options.authorizedGroup;
    this.#limiter = options.limiter;
  }

  get authorizedGroup(): string {
    return this.#authorizedGroup;
  }

  async login(
    name: string,
    password: string,
    remote: string,
    totpCode?: string,
  ): Promise<{ token: string; expiresAtMs: number; user: UserRecord; amr: AuthMethod[] }> {
    const refuse = async (error: LifelineError, detail: Record<string, unknown> = {}): Promise<never> => {
      // The code is recorded, never the password, the TOTP code or the secret.
      await this.#audit.record(`user:${name}`, 'login.refused', null, {
        remote,
        code: error.code,
        ...detail,
      });
      throw error;
    };
    const verdict = this.#limiter.attempt(name, remote);
    if (!verdict.ok) {
      const seconds = Math.ceil(verdict.retryAfterMs / 1000);
      return refuse(
        new LoginRateLimited(rateLimitMessage(verdict.scope, name, remote, seconds), verdict.retryAfterMs),
        {
          scope: verdict.scope,
          retryAfterMs: verdict.retryAfterMs,
        },
      );
    }
    const user = await this.#store.getUser(name);
    const ok =
      user && user.disabledAtMs === null
        ? await verifyPassword(password, user.passwordHash)
        : (await burnPasswordCheck(password), false);
    if (!user || !ok) return refuse(new LifelineError('AUTH_INVALID', 'wrong user name or password'));

    const totp = await this.#store.userSecurity.getTotp(name);
    const amr: AuthMethod[] = ['pwd'];
    if (totp) {
      if (totpCode === undefined || totpCode === '') {
        this.#limiter.forgive(name, remote);
        return refuse(
          new LifelineError('AUTH_TOTP_REQUIRED', 'this user logs in with a TOTP code: add --totp CODE'),
        );
      }
      const step = matchTotpStep(totp.secret, totpCode.trim(), this.#clock.now());
      if (step === undefined) {
        return refuse(
          new LifelineError(
            'AUTH_TOTP_INVALID',
            'wrong TOTP code: give the current code of your authenticator',
          ),
        );
      }
      if (!(await this.#store.userSecurity.acceptTotpStep(name, step))) {
        return refuse(
          new LifelineError(
            'AUTH_TOTP_INVALID',
            'this TOTP code was used already: wait for the next code of your authenticator',
          ),
          { reused: true },
        );
      }
      amr.push('otp');
    } else if (totpCode !== undefined && totpCode !== '') {
      this.#limiter.forgive(name, remote);
      return refuse(
        new LifelineError(
          'AUTH_TOTP_INVALID',
          `user ${name} has no TOTP enrolled: log in without --totp, or ask the hub operator to enroll it (lifeline hub user totp ${name})`,
        ),
      );
    }
    this.#limiter.succeeded(name, remote);

    const token = tokenPrefix + randomBytes(32).toString('base64url');
    const nowMs = this.#clock.now();
    const expiresAtMs = nowMs + this.#tokenTtlMs;
    await this.#store.userSecurity.addToken({
      id: apiTokenId(token),
      userName: name,
      createdAtMs: nowMs,
      expiresAtMs,
      revokedAtMs: null,
      amr,
    });
    await this.#audit.record(`user:${name}`, 'login', null, { remote, amr });
    return { token, expiresAtMs, user, amr };
  }

  /** The user behind a bearer token, or AUTH_REQUIRED. */
  async authenticate(authorization: string | undefined): Promise<UserRecord> {
    return (await this.authenticateWithStrength(authorization)).user;
  }

  /** The user behind a bearer token and how that login was checked, or AUTH_REQUIRED. */
  async authenticateWithStrength(authorization: string | undefined): Promise<Authenticated> {
    const token = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : '';
    if (!token.startsWith(tokenPrefix))
      throw new LifelineError('AUTH_REQUIRED', `log in first: ${loginHint}`);
    const id = apiTokenId(token);
    const nowMs = this.#clock.now();
    const cached = this.#recent.get(id);
    if (cached && cached.checkedAtMs + recentLoginMs > nowMs && cached.expiresAtMs > nowMs)
      return { user: cached.user, amr: cached.amr };
    const record = await this.#store.userSecurity.getToken(id);
    if (!record) throw new LifelineError('AUTH_REQUIRED', `the login is not known to this hub: ${loginHint}`);
    if (record.revokedAtMs !== null) {
      throw new LifelineError(
        'AUTH_REQUIRED',
        `the login was revoked at ${new Date(record.revokedAtMs).toISOString()}: ${loginHint}`,
      );
    }
    if (record.expiresAtMs <= nowMs) {
      throw new LifelineError(
        'AUTH_REQUIRED',
        `the login expired at ${new Date(record.expiresAtMs).toISOString()}: log in again (${loginHint})`,
      );
    }
    const user = await this.#store.getUser(record.userName);
    if (!user || user.disabledAtMs !== null)
      throw new LifelineError('AUTH_REQUIRED', `user ${record.userName} is disabled on this hub`);
    if (this.#recent.size >= 10_000) this.#recent.clear();
    this.#recent.set(id, { user, amr: record.amr, checkedAtMs: nowMs, expiresAtMs: record.expiresAtMs });
    return { user, amr: record.amr };
  }

  /** Forgets the checked logins of a user at once (the user was disabled): no 2 s of grace. */
  forgetUser(name: string): void {
    for (const [id, entry] of this.#recent) if (entry.user.name === name) this.#recent.delete(id);
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
