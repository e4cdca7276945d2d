// Technician identity beyond the password: TOTP secrets (with the last step accepted, so a code
// logs in once), the bearer tokens logins earn and how each was earned (its `amr`), and disabling a
// user, which revokes the user's tokens at once.

import type { TicketClaims } from '../../protocol/index.js';

export type AuthMethod = TicketClaims['amr'][number];

export interface TotpEnrollment {
  userName: string;
  /** Base32; a secret: never logged, printed only once at enrollment. */
  secret: string;
  enrolledAtMs: number;
  lastStep: number | null;
}

/** A login's bearer token (kept by its id, a hash of the token). */
export interface ApiTokenRecord {
  id: string;
  userName: string;
  createdAtMs: number;
  expiresAtMs: number;
  revokedAtMs: number | null;
  /** How the login that earned the token was checked: ['pwd'] or ['pwd', 'otp']. */
  amr: AuthMethod[];
}

export interface HubUserSecurityStore {
  getTotp(userName: string): Promise<TotpEnrollment | undefined>;
  /** Enrolls (or re-enrolls) the user: a new secret replaces the old one. */
  setTotp(userName: string, secret: string, nowMs: number): Promise<void>;
  /**
   * Enrolls TOTP for an existing user (a new secret replaces an old one) and revokes the user's
   * logins, in one transaction: a login made with the password alone, or with the old secret,
   * no longer counts. Returns how many logins were revoked.
   */
  enrollTotp(userName: string, secret: string, nowMs: number): Promise<number>;
  /**
   * Records `step` as used if it is later than every step accepted before; false if it is not (the
   * code, or an earlier one, was used already). Two logins racing with the same code cannot both win.
   */
  acceptTotpStep(userName: string, step: number): Promise<boolean>;
  /** Adds a login's token; a token of an unknown user is refused. */
  addToken(token: ApiTokenRecord): Promise<void>;
  getToken(id: string): Promise<ApiTokenRecord | undefined>;
  /**
   * Disables the user and revokes every token of theirs, in one transaction. Returns whether the
   * user was enabled before, and how many tokens were revoked.
   */
  disableUser(userName: string, nowMs: number): Promise<{ changed: boolean; tokensRevoked: number }>;
  /** Enables the user again; tokens revoked by disabling stay revoked (the user logs in again). */
  enableUser(userName: string): Promise<boolean>;
  /** Names of the disabled users, sorted (read by the hub's user watch twice a second). */
  disabledUserNames(): Promise<string[]>;
  /** Users enrolled in TOTP, sorted (for `hub user list`); never the secrets. */
  totpUserNames(): Promise<string[]>;
}
