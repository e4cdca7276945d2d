// Each user's share of session requests (CONNECT streams from `lifeline connect`, and the console's
// POST /v1/session-requests): a rate (a token bucket of `perWindow`, refilled at that many per
// window) and a number waiting for their station's answer at once. So one user cannot flood a
// station, or the hub's audit log, with requests; other users are not slowed.

import type { Clock } from '../../common/clock.js';
import { formatDurationMs } from '../../common/config/index.js';
import { LimitReached, seconds, shareKeys } from '../shares/index.js';
import type { SharesConfig } from '../shares/index.js';

export interface SessionRequestLimits {
  /** Requests a user may make at once, and again per window. */
  perWindow: number;
  windowMs: number;
  /** Requests of a user waiting for their station's answer at once. */
  inFlight: number;
}

/** The limits of hub.yaml `shares.perUser`. */
export function sessionRequestLimitsOf(
  perUser: Pick<SharesConfig['perUser'], 'sessionRequests' | 'sessionRequestWindow' | 'sessionOpens'>,
): SessionRequestLimits {
  return {
    perWindow: perUser.sessionRequests,
    windowMs: perUser.sessionRequestWindow,
    inFlight: perUser.sessionOpens,
  };
}

interface Share {
  tokens: number;
  updatedAtMs: number;
  inFlight: number;
}

/** Bounds the memory of users tracked (a user with a full bucket and nothing in flight is idle). */
const maxTracked = 10_000;

export class SessionRequestShares {
  readonly #limits: SessionRequestLimits;
  readonly #clock: Clock;
  readonly #shares = new Map<string, Share>();

  constructor(limits: SessionRequestLimits, clock: Clock) {
    this.#limits = limits;
    this.#clock = clock;
  }

  /**
   * Takes one request of `user`'s share, or throws LimitReached naming the limit. The caller calls
   * the function returned once the station answered (or the request failed): the request is no
   * longer in flight. A request refused for being one too many in flight takes nothing.
   */
  admit(user: string): () => void {
    const share = this.#refilled(user);
    const { perWindow, windowMs, inFlight } = this.#limits;
    if (share.inFlight >= inFlight) {
      throw new LimitReached(
        'session-opens',
        `user ${user} has ${share.inFlight} session requests waiting for their station's answer, as many as one user may (hub.yaml ${shareKeys['session-opens']}): try again when one is answered`,
        1000,
      );
    }
    if (share.tokens < 1) {
      const waitMs = ((1 - share.tokens) * windowMs) / perWindow;
      throw new LimitReached(
        'session-requests',
        `user ${user} made more session requests than one user may (hub.yaml ${shareKeys['session-requests']}: ${perWindow} per ${formatDurationMs(windowMs)}): try again in ${seconds(waitMs)}`,
        waitMs,
      );
    }
    share.tokens -= 1;
    share.inFlight += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      share.inFlight -= 1;
    };
  }

  /** The user's share now, its bucket refilled for the time since it was last used. */
  #refilled(user: string): Share {
    const nowMs = this.#clock.now();
    const { perWindow, windowMs } = this.#limits;
    let share = this.#shares.get(user);
    if (!share) {
      if (this.#shares.size >= maxTracked) this.#forgetIdle(nowMs);
      share = { tokens: perWindow, updatedAtMs: nowMs, inFlight: 0 };
      this.#shares.set(user, share);
      return share;
    }
    const elapsedMs = Math.max(0, nowMs - share.updatedAtMs);
    share.tokens = Math.min(perWindow, share.tokens + (elapsedMs * perWindow) / windowMs);
    share.updatedAtMs = nowMs;
    return share;
  }

  /** Users whose bucket has refilled and who wait for nothing hold no state worth keeping. */
  #forgetIdle(nowMs: number): void {
    for (const [user, share] of this.#shares) {
      if (share.inFlight === 0 && nowMs - share.updatedAtMs >= this.#limits.windowMs)
        this.#shares.delete(user);
    }
  }
}
