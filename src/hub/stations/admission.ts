// Tunnel admission: at most `tunnelsPerSecond` new tunnels in any sliding one-second window, so a
// restarted hub is not flattened by every station redialling at once. Stations over the limit are
// told to retry later, with a wait chosen so that the refused crowd comes back no faster than the
// hub admits.

import type { Clock } from '../../common/clock.js';
import { goawayHintText } from '../../protocol/index.js';

/** The shortest and longest wait the hub asks of a refused station (protocol: retry-after-ms). */
export const retryAfterMinMs = 1000;
export const retryAfterMaxMs = 60_000;
/** The longest wait a draining node asks of a station that has no other hub address. */
export const drainRetryAfterMaxMs = 5000;

/** A decision, with the time it was taken at (the one the rate is counted on). */
export type AdmissionDecision =
  | { admitted: true; atMs: number }
  | {
      admitted: false;
      atMs: number;
      retryAfterMs: number;
      reason: string;
      /** The node is draining: the station should reconnect to another hub address now. */
      elsewhere: boolean;
    };

/** Why a draining node refuses a tunnel (the GOAWAY hint's reason). */
export const drainingReason = 'the hub node is draining before it stops: reconnect to another hub address';

export interface AdmissionStats {
  admitted: number;
  refused: number;
}

export class TunnelAdmission {
  readonly #clock: Clock;
  readonly #tunnelsPerSecond: number;
  /** When the last `tunnelsPerSecond` admissions happened, oldest at #next (a ring). */
  readonly #admittedAtMs: number[];
  #next = 0;
  /**
   * The wait handed to the last refused station, as a time: each refusal moves it 1/rate s on
   * from max(itself, now + the shortest wait). It never lags behind that, so it only grows while
   * refusals outpace the rate.
   */
  #refusedHorizonMs = 0;
  #admitted = 0;
  #refused = 0;
  /** Set by drain(): when the node stops at the latest. */
  #drainDeadlineAtMs: number | undefined;

  constructor(options: { tunnelsPerSecond: number; clock: Clock }) {
    if (!(Number.isInteger(options.tunnelsPerSecond) && options.tunnelsPerSecond >= 1)) {
      throw new RangeError('tunnelsPerSecond must be a positive integer');
    }
    this.#clock = options.clock;
    this.#tunnelsPerSecond = options.tunnelsPerSecond;
    this.#admittedAtMs = new Array<number>(options.tunnelsPerSecond).fill(Number.NEGATIVE_INFINITY);
  }

  get tunnelsPerSecond(): number {
    return this.#tunnelsPerSecond;
  }

  /**
   * Admits a new tunnel now, or says how long the station should wait. The ring holds the last
   * `rate` admission times: a new one is allowed only when the oldest of them is a full second
   * old, so no half-open one-second window ever holds more than `rate` admissions.
   */
  tryAdmit(): AdmissionDecision {
    const nowMs = this.#clock.now();
    if (this.#drainDeadlineAtMs !== undefined) {
      this.#refused += 1;
      return { admitted: false, atMs: nowMs, ...this.drainHint(), elsewhere: true };
    }
    const oldestMs = this.#admittedAtMs[this.#next] ?? Number.NEGATIVE_INFINITY;
    if (nowMs - oldestMs >= 1000) {
      this.#admittedAtMs[this.#next] = nowMs;
      this.#next = (this.#next + 1) % this.#tunnelsPerSecond;
      this.#admitted += 1;
      return { admitted: true, atMs: nowMs };
    }
    this.#refused += 1;
    // The agent waits N + uniform[0, N). The k-th station refused in a burst gets N = 1 s + k/rate,
    // so those due back by time T (N <= T < 2N) arrive at about rate * ln(T / max(1 s, T/2)), at
    // most ln 2 (0.69) of the rate. Capped at the longest wait, so a long storm does not leave
    // waits inflated after it ends.
    this.#refusedHorizonMs = Math.min(
      nowMs + retryAfterMaxMs,
      Math.max(this.#refusedHorizonMs, nowMs + retryAfterMinMs) + 1000 / this.#tunnelsPerSecond,
    );
    const retryAfterMs = Math.min(
      retryAfterMaxMs,
      Math.max(retryAfterMinMs, Math.ceil(this.#refusedHorizonMs - nowMs)),
    );
    return {
      admitted: false,
      atMs: nowMs,
      retryAfterMs,
      reason: `the hub admits at most ${this.#tunnelsPerSecond} new tunnels per second and is busy`,
      elsewhere: false,
    };
  }

  /**
   * From now on every new tunnel is refused with a hint to reconnect elsewhere: the node is
   * draining and stops by `deadlineAtMs` at the latest.
   */
  drain(deadlineAtMs: number): void {
    this.#drainDeadlineAtMs ??= deadlineAtMs;
  }

  get draining(): boolean {
    return this.#drainDeadlineAtMs !== undefined;
  }

  /**
   * What a draining node tells stations: go to another hub address now; a station with this one
   * alone (often a load balancer's, which picks another node) tries it again after a short wait,
   * no longer than the drain has left.
   */
  drainHint(): { retryAfterMs: number; reason: string } {
    const left = (this.#drainDeadlineAtMs ?? 0) - this.#clock.now();
    return {
      retryAfterMs: Math.min(drainRetryAfterMaxMs, Math.max(retryAfterMinMs, Math.ceil(left))),
      reason: drainingReason,
    };
  }

  stats(): AdmissionStats {
    return { admitted: this.#admitted, refused: this.#refused };
  }
}

/** The GOAWAY debug data telling an agent to retry later, or elsewhere first (docs/protocol.md). */
export function retryLaterMessage(retryAfterMs: number, reason: string, elsewhere = false): string {
  return goawayHintText({ retryAfterMs, reason, elsewhere });
}
