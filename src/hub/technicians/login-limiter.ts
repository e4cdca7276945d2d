// Rate limits of the hub's login, built so that an attacker cannot turn them against a user:
// - per user name and client address together, a back-off that grows with each failure of that
//   pair after the first (backoff, doubling up to maxBackoff), forgotten after a window of quiet;
// - per address, across user names: past maxFailuresPerAddress failures in the window, the
//   address is refused until the oldest leaves the window;
// - per user name, across addresses: past maxFailuresPerUser failures in the window, only the
//   addresses with a failure for that user are refused. An address without one may still try,
//   so the real user, from an address of their own, gets in during an attack from elsewhere.
// Failures count within a sliding window (login.window). An address is counted as the connection
// guard counts it: IPv4-mapped as IPv4, IPv6 by its /64 (one host may have all of it). Kept in
// memory: each hub node limits on its own.

import type { Clock } from '../../common/clock.js';
import { sourceOf } from '../../common/net/index.js';
import type { LoginConfig } from './login-config.js';

export interface LoginLimits {
  maxFailuresPerUser: number;
  maxFailuresPerAddress: number;
  windowMs: number;
  backoffMs: number;
  maxBackoffMs: number;
}

/** The limits of hub.yaml `login:`. */
export function loginLimitsOf(login: LoginConfig): LoginLimits {
  return {
    maxFailuresPerUser: login.maxFailuresPerUser,
    maxFailuresPerAddress: login.maxFailuresPerAddress,
    windowMs: login.window,
    backoffMs: login.backoff,
    maxBackoffMs: login.maxBackoff,
  };
}

/** Which limit refused: the user-and-address back-off, the user across addresses, the address. */
export type LoginScope = 'pair' | 'user' | 'address';

export type LoginVerdict = { ok: true } | { ok: false; scope: LoginScope; retryAfterMs: number };

/** Bounds the memory an attacker can make the hub spend on names and addresses. */
const maxTrackedKeys = 50_000;
/** A pair's back-off stops growing long before this many failures (2^40 s). */
const maxPairFailures = 40;

/** One failed login: when, and from which address (a user's failures come from many). */
interface Failure {
  atMs: number;
  address: string;
}

export class LoginLimiter {
  readonly #limits: LoginLimits;
  readonly #clock: Clock;
  /**
   * Failures (oldest first) per key: a user name, an address, or the two together. A Map keeps
   * insertion order, and a key is moved to the end when it fails, so the key evicted first is
   * the one that failed longest ago.
   */
  readonly #failures = new Map<string, Failure[]>();

  constructor(limits: LoginLimits, clock: Clock) {
    this.#limits = limits;
    this.#clock = clock;
  }

  /**
   * Whether a login for this user from this address may be tried now. An admitted attempt counts as
   * a failure at once, so that many guesses sent in parallel are limited too; `succeeded` and
   * `forgive` take it back. A refused attempt counts for nothing: it extends no wait.
   */
  attempt(user: string, clientAddress: string): LoginVerdict {
    const address = sourceOf(clientAddress);
    const nowMs = this.#clock.now();
    const { maxFailuresPerUser, maxFailuresPerAddress, windowMs } = this.#limits;
    const refusals: { scope: LoginScope; retryAfterMs: number }[] = [];
    const pair = this.#pairFailures(pairKey(user, address), nowMs);
    const lastPairFailureMs = pair.at(-1)?.atMs;
    if (lastPairFailureMs !== undefined) {
      const waitMs = lastPairFailureMs + this.#backoffMs(pair.length) - nowMs;
      if (waitMs > 0) refusals.push({ scope: 'pair', retryAfterMs: waitMs });
      // Across addresses, only an address that failed for this user within the window is held
      // back: until the user is under the limit again, or this address's failure left the window.
      const addressClearInMs = lastPairFailureMs + windowMs - nowMs;
      const byUser = this.#windowFreesInMs(userKey(user), maxFailuresPerUser, nowMs);
      if (addressClearInMs > 0 && byUser > 0)
        refusals.push({ scope: 'user', retryAfterMs: Math.min(byUser, addressClearInMs) });
    }
    const byAddress = this.#windowFreesInMs(addressKey(address), maxFailuresPerAddress, nowMs);
    if (byAddress > 0) refusals.push({ scope: 'address', retryAfterMs: byAddress });
    // The longest wait is the one that holds.
    let refusal: (typeof refusals)[number] | undefined;
    for (const r of refusals) if (!refusal || r.retryAfterMs > refusal.retryAfterMs) refusal = r;
    if (refusal) return { ok: false, ...refusal };
    const failure = { atMs: nowMs, address };
    this.#add(pairKey(user, address), pair, failure, maxPairFailures);
    // A user's list is kept longer than its limit: a success takes its own address's failures out.
    this.#add(
      userKey(user),
      this.#prune(userKey(user), nowMs),
      failure,
      Math.max(64, 4 * maxFailuresPerUser),
    );
    this.#add(addressKey(address), this.#prune(addressKey(address), nowMs), failure, maxFailuresPerAddress);
    return { ok: true };
  }

  /**
   * The failures of one user from one address, which set its back-off. They are not dropped one
   * by one as they leave the window (a slow attacker would never wait long): the pair is
   * forgotten once it stayed quiet for a window after its last wait ended.
   */
  #pairFailures(key: string, nowMs: number): Failure[] {
    const failures = this.#failures.get(key);
    const last = failures?.at(-1);
    if (!failures || !last) return [];
    if (nowMs >= last.atMs + this.#backoffMs(failures.length) + this.#limits.windowMs) {
      this.#failures.delete(key);
      return [];
    }
    return failures;
  }

  /**
   * A successful login: the failures of this user from this address are forgotten (this attempt
   * with them), and the attempt no longer counts for the address. The user's failures from other
   * addresses still count: they may be someone else's guesses.
   */
  succeeded(user: string, clientAddress: string): void {
    const address = sourceOf(clientAddress);
    this.#failures.delete(pairKey(user, address));
    const byUser = this.#failures.get(userKey(user));
    if (byUser) {
      const others = byUser.filter((f) => f.address !== address);
      if (others.length > 0) this.#failures.set(userKey(user), others);
      else this.#failures.delete(userKey(user));
    }
    this.#takeBack(addressKey(address));
  }

  /** The password was right but the login did not complete (a TOTP code is needed): not a failure. */
  forgive(user: string, clientAddress: string): void {
    const address = sourceOf(clientAddress);
    this.#takeBack(pairKey(user, address));
    this.#takeBack(userKey(user));
    this.#takeBack(addressKey(address));
  }

  /**
   * The wait after `failures` failures of one user from one address: none after the first (a
   * typing mistake costs nothing), `backoff` after the second, doubling with each further one.
   */
  #backoffMs(failures: number): number {
    if (failures <= 1) return 0;
    const doubled = this.#limits.backoffMs * 2 ** Math.min(failures - 2, maxPairFailures);
    return Math.min(this.#limits.maxBackoffMs, doubled);
  }

  #takeBack(key: string): void {
    const failures = this.#failures.get(key);
    failures?.pop();
    if (failures?.length === 0) this.#failures.delete(key);
  }

  /** How long until `key` has fewer than `max` failures in the window; 0 if it has already. */
  #windowFreesInMs(key: string, max: number, nowMs: number): number {
    const failures = this.#prune(key, nowMs);
    if (failures.length < max) return 0;
    // The window frees up when enough of the oldest failures leave it.
    const freeingAt = (failures[failures.length - max]?.atMs ?? nowMs) + this.#limits.windowMs;
    return Math.max(1, freeingAt - nowMs);
  }

  #prune(key: string, nowMs: number): Failure[] {
    const failures = this.#failures.get(key);
    if (!failures) return [];
    const cutoff = nowMs - this.#limits.windowMs;
    while (failures.length > 0 && (failures[0]?.atMs ?? 0) <= cutoff) failures.shift();
    if (failures.length === 0) this.#failures.delete(key);
    return failures;
  }

  /** Records a failure of `key` after its current `failures`, keeping only the newest `keep`. */
  #add(key: string, failures: Failure[], failure: Failure, keep: number): void {
    failures.push(failure);
    if (failures.length > keep) failures.splice(0, failures.length - keep);
    this.#failures.delete(key);
    if (this.#failures.size >= maxTrackedKeys) {
      const oldest = this.#failures.keys().next();
      if (!oldest.done) this.#failures.delete(oldest.value);
    }
    this.#failures.set(key, failures);
  }
}

const userKey = (user: string) => `u:${user.toLowerCase()}`;
const addressKey = (address: string) => `a:${address}`;
const pairKey = (user: string, address: string) => `p:${address} ${user.toLowerCase()}`;
