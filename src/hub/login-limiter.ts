// Rate limits of the hub's login: failed logins are counted per user name and per client address
// in a sliding window; past either limit, logins are refused (even with the right password) until
// the oldest failure in the window leaves it. Kept in memory: each hub node limits on its own.

import { z } from 'zod';
import type { Clock } from '../common/clock.js';
import { durationSchema as duration } from '../common/config-schema.js';

const failureCount = (what: string) =>
  z
    .number({ error: `expected a whole number of failed logins per ${what}, from 1 to 10000` })
    .int({ error: `expected a whole number of failed logins per ${what}, from 1 to 10000` })
    .min(1, { error: `expected a whole number of failed logins per ${what}, from 1 to 10000` })
    .max(10_000, { error: `expected a whole number of failed logins per ${what}, from 1 to 10000` });

export const loginDefaults = {
  maxFailuresPerUser: 5,
  maxFailuresPerAddress: 30,
  window: 15 * 60_000,
} as const;

/** hub.yaml `login:`: how many failed logins the hub takes per user name and per address. */
export const loginConfigSchema = z
  .object({
    maxFailuresPerUser: failureCount('user').default(loginDefaults.maxFailuresPerUser),
    maxFailuresPerAddress: failureCount('address').default(loginDefaults.maxFailuresPerAddress),
    /** Failures older than this no longer count. */
    window: duration('15m', { minMs: 1000, maxMs: 86_400_000 }),
  })
  .strict()
  .default({ ...loginDefaults });

export type LoginConfig = z.infer<typeof loginConfigSchema>;

export interface LoginLimits {
  maxFailuresPerUser: number;
  maxFailuresPerAddress: number;
  windowMs: number;
}

export type LoginVerdict = { ok: true } | { ok: false; scope: 'user' | 'address'; retryAfterMs: number };

/** Bounds the memory an attacker can make the hub spend on names and addresses. */
const maxTrackedKeys = 50_000;

export class LoginLimiter {
  readonly #limits: LoginLimits;
  readonly #clock: Clock;
  /** Failure times (oldest first) per key; a Map keeps insertion order, so the oldest key goes first. */
  readonly #failures = new Map<string, number[]>();

  constructor(limits: LoginLimits, clock: Clock) {
    this.#limits = limits;
    this.#clock = clock;
  }

  /**
   * Whether a login for this user from this address may be tried now. An admitted attempt counts as
   * a failure at once, so that many guesses sent in parallel are limited too; `succeeded` and
   * `forgive` take it back.
   */
  attempt(user: string, address: string): LoginVerdict {
    const nowMs = this.#clock.now();
    const byUser = this.#retryAfterMs(userKey(user), this.#limits.maxFailuresPerUser, nowMs);
    const byAddress = this.#retryAfterMs(addressKey(address), this.#limits.maxFailuresPerAddress, nowMs);
    if (byUser > 0 || byAddress > 0) {
      return byUser >= byAddress
        ? { ok: false, scope: 'user', retryAfterMs: byUser }
        : { ok: false, scope: 'address', retryAfterMs: byAddress };
    }
    this.#add(userKey(user), nowMs);
    this.#add(addressKey(address), nowMs);
    return { ok: true };
  }

  /** A successful login forgets the user's failures, and this attempt from the address. */
  succeeded(user: string, address: string): void {
    this.#failures.delete(userKey(user));
    this.#takeBack(addressKey(address));
  }

  /** The password was right but the login did not complete (a TOTP code is needed): not a failure. */
  forgive(user: string, address: string): void {
    this.#takeBack(userKey(user));
    this.#takeBack(addressKey(address));
  }

  #takeBack(key: string): void {
    const times = this.#failures.get(key);
    times?.pop();
    if (times?.length === 0) this.#failures.delete(key);
  }

  #retryAfterMs(key: string, max: number, nowMs: number): number {
    const times = this.#prune(key, nowMs);
    if (times.length < max) return 0;
    // The window frees up when enough of the oldest failures leave it.
    const freeingAt = (times[times.length - max] ?? nowMs) + this.#limits.windowMs;
    return Math.max(1, freeingAt - nowMs);
  }

  #prune(key: string, nowMs: number): number[] {
    const times = this.#failures.get(key);
    if (!times) return [];
    const cutoff = nowMs - this.#limits.windowMs;
    while (times.length > 0 && (times[0] ?? 0) <= cutoff) times.shift();
    if (times.length === 0) this.#failures.delete(key);
    return times;
  }

  #add(key: string, nowMs: number): void {
    const times = this.#prune(key, nowMs);
    // Only as many failures as could matter are kept.
    const keep = Math.max(this.#limits.maxFailuresPerUser, this.#limits.maxFailuresPerAddress);
    times.push(nowMs);
    if (times.length > keep) times.splice(0, times.length - keep);
    this.#failures.delete(key);
    if (this.#failures.size >= maxTrackedKeys) {
      const oldest = this.#failures.keys().next();
      if (!oldest.done) this.#failures.delete(oldest.value);
    }
    this.#failures.set(key, times);
  }
}

const userKey = (user: string) => `u:${user.toLowerCase()}`;
const addressKey = (address: string) => `a:${address}`;
