// The agent's webhook notifier: tells the appliance admin's endpoint about access requests and
// sessions with signed HTTP POSTs, queued in memory (bounded) and delivered one at a time, in order.
//
// Delivery is at least once: a retried event keeps its `lifeline-delivery` id, so receivers dedupe on
// it. Order costs latency: while one event is retried (up to maxAttempts, with backoff), the events
// behind it wait. Events live in memory only; a crash or a close() past its deadline loses them.

import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';

export type WebhookEventType =
  | 'access-request.created'
  | 'access-request.accepted'
  | 'access-request.rejected'
  | 'session.started'
  | 'session.ended';

export interface WebhookEvent {
  type: WebhookEventType;
  stationId: string;
  atMs: number;
  data: Record<string, unknown>;
}

export interface WebhookOptions {
  /** http:// or https://, without user name or password. Only its origin is ever logged. */
  url: string;
  secret: string;
  /** Source of the signature timestamp. Waits use real timers. */
  clock: Clock;
  logger: Logger;
  /** Attempts per event, the first included. */
  maxAttempts?: number;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Events waiting behind the one being delivered; when full, the oldest waiting one is dropped. */
  maxQueue?: number;
  /** Per attempt, until the response headers arrive. */
  timeoutMs?: number;
  /** An event whose JSON body is larger is not sent (counted failed). */
  maxBodyBytes?: number;
  random?: () => number;
}

export interface WebhookStats {
  delivered: number;
  failed: number;
  dropped: number;
  pending: number;
}

export const webhookDefaults = {
  maxAttempts: 8,
  minDelayMs: 1000,
  maxDelayMs: 60_000,
  maxQueue: 1000,
  timeoutMs: 5000,
  maxBodyBytes: 64 * 1024,
  closeDeadlineMs: 5000,
} as const;

interface Delivery {
  readonly id: string;
  readonly type: WebhookEventType;
  /** Serialized once, so every attempt sends the same bytes. */
  readonly body: string;
  settled: boolean;
}

type AttemptResult = { status: number } | { error: string };

export class WebhookNotifier {
  readonly #url: string;
  readonly #secret: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxAttempts: number;
  readonly #minDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxQueue: number;
  readonly #timeoutMs: number;
  readonly #maxBodyBytes: number;
  readonly #random: () => number;
  readonly #queue: Delivery[] = [];
  readonly #stopped = new AbortController();
  #current: Delivery | undefined;
  #pumping = false;
  #idle: Promise<void> = Promise.resolve();
  #accepting = true;
  #closing: Promise<void> | undefined;
  #delivered = 0;
  #failed = 0;
  #dropped = 0;

  constructor(options: WebhookOptions) {
    const url = parseWebhookUrl(options.url);
    if (typeof options.secret !== 'string' || options.secret.length === 0) {
      throw new LifelineError('CONFIG_INVALID', 'webhook secret must not be empty');
    }
    this.#url = url.href;
    this.#secret = options.secret;
    this.#clock = options.clock;
    this.#logger = options.logger.child({ webhook: url.origin });
    this.#maxAttempts = checkInteger('maxAttempts', options.maxAttempts ?? webhookDefaults.maxAttempts, 1);
    this.#minDelayMs = checkInteger('minDelayMs', options.minDelayMs ?? webhookDefaults.minDelayMs, 1);
    this.#maxDelayMs = checkInteger(
      'maxDelayMs',
      options.maxDelayMs ?? webhookDefaults.maxDelayMs,
      this.#minDelayMs,
    );
    this.#maxQueue = checkInteger('maxQueue', options.maxQueue ?? webhookDefaults.maxQueue, 1);
    this.#timeoutMs = checkInteger('timeoutMs', options.timeoutMs ?? webhookDefaults.timeoutMs, 1);
    this.#maxBodyBytes = checkInteger(
      'maxBodyBytes',
      options.maxBodyBytes ?? webhookDefaults.maxBodyBytes,
      256,
    );
    this.#random = options.random ?? Math.random;
  }

  get stats(): WebhookStats {
    const inFlight = this.#current !== undefined && !this.#current.settled ? 1 : 0;
    return {
      delivered: this.#delivered,
      failed: this.#failed,
      dropped: this.#dropped,
      pending: this.#queue.length + inFlight,
    };
  }

  /** Queues an event for delivery. Never throws: problems are logged and counted. */
  notify(event: WebhookEvent): void {
    try {
      this.#enqueue(event);
    } catch (err) {
      this.#failed++;
      this.#logger.error({ error: describeError(err) }, 'webhook event not queued');
    }
  }

  /** Stops taking events, delivers what is queued within deadlineMs, then drops the rest. Idempotent. */
  close(deadlineMs: number = webhookDefaults.closeDeadlineMs): Promise<void> {
    this.#closing ??= this.#drain(deadlineMs);
    return this.#closing;
  }

  /** Stops at once: the attempt in flight is aborted and every pending event is dropped. */
  destroy(): void {
    this.#stop('destroyed');
  }

  #enqueue(event: WebhookEvent): void {
    const id = randomUUID();
    const about = { deliveryId: id, type: event.type };
    if (!this.#accepting) {
      this.#dropped++;
      this.#logger.warn(about, 'webhook notifier is closed; event dropped');
      return;
    }
    const at = new Date(event.atMs).toISOString();
    const body = JSON.stringify({ id, type: event.type, stationId: event.stationId, at, data: event.data });
    if (Buffer.byteLength(body) > this.#maxBodyBytes) {
      this.#failed++;
      this.#logger.error({ ...about, maxBodyBytes: this.#maxBodyBytes }, 'webhook event too large; not sent');
      return;
    }
    if (this.#queue.length >= this.#maxQueue) {
      const oldest = this.#queue.shift();
      if (oldest !== undefined) this.#settle(oldest, 'dropped');
      this.#logger.warn(
        { deliveryId: oldest?.id, type: oldest?.type, maxQueue: this.#maxQueue },
        'webhook queue full; dropped the oldest event',
      );
    }
    this.#queue.push({ id, type: event.type, body, settled: false });
    this.#kick();
  }

  #kick(): void {
    if (this.#pumping || this.#stopped.signal.aborted) return;
    this.#pumping = true;
    this.#idle = this.#pump();
  }

  async #pump(): Promise<void> {
    try {
      for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
        this.#current = next;
        try {
          await this.#deliver(next);
        } catch (err) {
          this.#settle(next, 'failed');
          this.#logger.error({ deliveryId: next.id, error: describeError(err) }, 'webhook delivery crashed');
        }
      }
    } finally {
      this.#current = undefined;
      this.#pumping = false;
    }
  }

  async #deliver(delivery: Delivery): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const result = await this.#post(delivery);
      // close() past its deadline or destroy() already counted it as dropped.
      if (delivery.settled) return;
      const about = { deliveryId: delivery.id, type: delivery.type, attempt, ...result };
      if ('status' in result && result.status >= 200 && result.status < 300) {
        this.#settle(delivery, 'delivered');
        this.#logger.debug(about, 'webhook delivered');
        return;
      }
      if ('status' in result && !isRetryableStatus(result.status)) {
        this.#settle(delivery, 'failed');
        this.#logger.error(about, 'webhook delivery refused by the receiver; not retried');
        return;
      }
      if (attempt >= this.#maxAttempts) {
        this.#settle(delivery, 'failed');
        this.#logger.error(about, 'webhook delivery failed; giving up');
        return;
      }
      // Full jitter over an exponential ceiling: delay = random × min(max, min × 2^(attempt - 1)).
      const ceilingMs = Math.min(this.#maxDelayMs, this.#minDelayMs * 2 ** (attempt - 1));
      const retryInMs = Math.floor(this.#random() * ceilingMs);
      this.#logger.warn({ ...about, retryInMs }, 'webhook delivery failed; will retry');
      try {
        await delay(retryInMs, undefined, { signal: this.#stopped.signal });
      } catch {
        return; // stopped while waiting: #stop() counted it
      }
    }
  }

  async #post(delivery: Delivery): Promise<AttemptResult> {
    // The timestamp is taken per attempt, so a late retry still passes the receiver's tolerance.
    const timestampSeconds = Math.floor(this.#clock.now() / 1000);
    const signature = signWebhookBody(this.#secret, timestampSeconds, delivery.body);
    // One controller per attempt rather than AbortSignal.any(): on Node 20, any() over the long-lived
    // stop signal keeps a little memory per call for the life of the notifier.
    const attempt = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      attempt.abort();
    }, this.#timeoutMs);
    const onStop = () => attempt.abort();
    this.#stopped.signal.addEventListener('abort', onStop, { once: true });
    try {
      const response = await fetch(this.#url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'lifeline-event': delivery.type,
          'lifeline-delivery': delivery.id,
          'lifeline-signature': `t=${timestampSeconds},${signature}`,
        },
        body: delivery.body,
        // A redirect is a misconfigured URL: report it rather than resend the event elsewhere.
        redirect: 'manual',
        signal: attempt.signal,
      });
      // Only the status matters; release the connection without reading the body.
      await response.body?.cancel().catch(() => undefined);
      return { status: response.status };
    } catch (err) {
      return { error: timedOut ? `timed out after ${this.#timeoutMs} ms` : describeError(err) };
    } finally {
      clearTimeout(timer);
      this.#stopped.signal.removeEventListener('abort', onStop);
    }
  }

  async #drain(deadlineMs: number): Promise<void> {
    this.#accepting = false;
    const timer = setTimeout(() => this.#stop(`close deadline of ${deadlineMs} ms passed`), deadlineMs);
    try {
      await this.#idle;
    } finally {
      clearTimeout(timer);
    }
    this.#stop('closed');
  }

  #stop(reason: string): void {
    if (this.#stopped.signal.aborted) return;
    this.#accepting = false;
    const abandoned = this.#queue.splice(0);
    if (this.#current !== undefined && !this.#current.settled) abandoned.unshift(this.#current);
    // Settled before the abort, so the attempt that wakes up sees it is no longer its to count.
    for (const delivery of abandoned) this.#settle(delivery, 'dropped');
    if (abandoned.length > 0) {
      this.#logger.warn({ dropped: abandoned.length, reason }, 'webhook notifier stopped; events dropped');
    }
    this.#stopped.abort();
  }

  #settle(delivery: Delivery, outcome: 'delivered' | 'failed' | 'dropped'): void {
    if (delivery.settled) return;
    delivery.settled = true;
    if (outcome === 'delivered') this.#delivered++;
    else if (outcome === 'failed') this.#failed++;
    else this.#dropped++;
  }
}

/**
 * The `v1=` part of the `lifeline-signature` header: hex HMAC-SHA256 over `${timestamp}.${body}`.
 * Receivers must compute it over the raw body bytes as received, not over re-serialized JSON.
 */
export function signWebhookBody(secret: string, timestampSeconds: number, body: string): string {
  return 'v1=' + createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
}

/**
 * Checks a `lifeline-signature` header (`t=SECONDS,v1=HEX[,v1=HEX...]`): true when some v1 matches
 * and t is within toleranceSeconds of nowSeconds either way. Timing-safe; never throws.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string,
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  let timestampSeconds: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const equals = part.indexOf('=');
    if (equals < 0) return false;
    const key = part.slice(0, equals).trim();
    const value = part.slice(equals + 1).trim();
    if (key === 't') {
      if (timestampSeconds !== undefined || !/^\d{1,15}$/.test(value)) return false;
      timestampSeconds = Number(value);
    } else if (key === 'v1') {
      candidates.push(value);
    }
  }
  if (timestampSeconds === undefined || candidates.length === 0) return false;
  if (!(Math.abs(nowSeconds - timestampSeconds) <= toleranceSeconds)) return false;
  const expected = Buffer.from(signWebhookBody(secret, timestampSeconds, body).slice(3), 'hex');
  let matched = false;
  for (const candidate of candidates) {
    if (!/^[0-9a-f]{64}$/i.test(candidate)) continue;
    if (timingSafeEqual(Buffer.from(candidate, 'hex'), expected)) matched = true;
  }
  return matched;
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

function parseWebhookUrl(value: string): URL {
  // No `cause`, and never the URL itself in the message: its path or query may be a bearer token.
  const invalid = () =>
    new LifelineError('CONFIG_INVALID', 'webhook url must be an http or https URL without credentials');
  if (typeof value !== 'string' || !URL.canParse(value)) throw invalid();
  const url = new URL(value);
  if (!['http:', 'https:'].includes(url.protocol) || url.username !== '' || url.password !== '') {
    throw invalid();
  }
  return url;
}

function checkInteger(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new LifelineError('CONFIG_INVALID', `webhook ${name} must be an integer of at least ${min}`);
  }
  return value;
}

/** fetch() fails with a bare 'fetch failed': report the socket error's code under it instead. */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause: unknown = err.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return typeof code === 'string' ? `${err.message}: ${code}` : `${err.message}: ${cause.message}`;
  }
  return err.message;
}
