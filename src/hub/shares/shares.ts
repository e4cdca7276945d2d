// Fair shares of what the hub keeps for everyone: live console pages, download links, session
// requests (per user), and unfinished uploads (per station). hub.yaml `shares:` bounds each; a
// refusal is API_LIMIT_REACHED (429) naming the limit and its key, counted by limit for /metrics and
// logged once a minute per limit and user or station, so a flood does not flood the log too.

import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';

/** The limits, as /metrics labels them; each has one hub.yaml key. */
export const shareKeys = {
  'feed-streams': 'shares.perUser.feedStreams',
  'download-links': 'shares.perUser.downloadLinks',
  'session-requests': 'shares.perUser.sessionRequests',
  'session-opens': 'shares.perUser.sessionOpens',
  uploads: 'shares.perStation.uploads',
  'upload-bytes': 'shares.perStation.uploadPendingGb',
} as const;

export type ShareLimit = keyof typeof shareKeys;

/** A share is used up: 429 API_LIMIT_REACHED, with when to try again where that is known. */
export class LimitReached extends LifelineError {
  readonly limit: ShareLimit;
  readonly retryAfterMs: number | undefined;

  constructor(limit: ShareLimit, message: string, retryAfterMs?: number) {
    super('API_LIMIT_REACHED', message);
    this.limit = limit;
    this.retryAfterMs = retryAfterMs === undefined ? undefined : Math.max(1000, Math.ceil(retryAfterMs));
  }

  get retryAfterSeconds(): number | undefined {
    return this.retryAfterMs === undefined ? undefined : Math.ceil(this.retryAfterMs / 1000);
  }

  override toJSON(): ReturnType<LifelineError['toJSON']> & { retryAfterSeconds?: number } {
    const seconds = this.retryAfterSeconds;
    return { ...super.toJSON(), ...(seconds === undefined ? {} : { retryAfterSeconds: seconds }) };
  }
}

/** "12 s": when a refused user may try again, in the words of the login's refusals. */
export function seconds(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))} s`;
}

/** How often a refusal of one limit for one user or station is logged at most. */
const logEveryMs = 60_000;
/** Bounds the memory of the log's rate limit. */
const maxLogged = 10_000;

/** Where refusals go: a counter per limit (/metrics) and a log line now and then. */
export class ShareRefusals {
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** When each limit and holder was last logged, and how many refusals since. */
  readonly #logged = new Map<string, { atMs: number; since: number }>();
  /** Set by the hub once its metrics exist. */
  onRefused: ((limit: ShareLimit) => void) | undefined;

  constructor(clock: Clock, logger: Logger) {
    this.#clock = clock;
    this.#logger = logger;
  }

  /** Counts a refusal; `holder` is `user:NAME` or `station:ID`. */
  refused(error: LimitReached, holder: string): void {
    this.onRefused?.(error.limit);
    const key = `${error.limit} ${holder}`;
    const nowMs = this.#clock.now();
    const last = this.#logged.get(key);
    if (last && nowMs - last.atMs < logEveryMs) {
      last.since += 1;
      return;
    }
    if (this.#logged.size >= maxLogged) this.#logged.clear();
    this.#logged.set(key, { atMs: nowMs, since: 0 });
    this.#logger.warn(
      { limit: error.limit, key: shareKeys[error.limit], holder, refusedSinceLastLog: last?.since ?? 0 },
      error.message,
    );
  }
}
