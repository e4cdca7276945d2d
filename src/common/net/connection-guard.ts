// Deadlines and caps for the connections of one listener (the hub's station port, its technician
// API, the agent's admin API), so that connections which never finish cost a bounded amount:
//
// - a TLS handshake must finish within `handshakeTimeoutMs`;
// - a connection must authenticate within `unauthenticatedTimeoutMs` of being accepted (a valid
//   station certificate, a login, a valid bearer token: the server says when, with authenticated());
// - unauthenticated connections (handshakes included) are capped per source address and in total;
//   a new one past a cap takes the place of the oldest, so a flood of held connections cannot lock
//   out a client that completes its handshake and request at once;
// - on HTTP/1.1, the next request's headers must arrive within `idleTimeoutMs` of the last answer,
//   and once its first byte is in, within `headersTimeoutMs`;
// - a request body must keep up `minBodyBytesPerSecond` over every `bodyRateWindowMs` (BodyWatch),
//   not counting time in which the server itself was not reading.
//
// HTTP/2 sessions that stay idle are closed by their own session timeout (the servers set it to
// `idleTimeoutMs`); long streams (sessions, live feeds) are the business of their owners.
// Every close the guard makes is counted by reason (stats(), exported as metrics).

import type { Server, Socket } from 'node:net';
import type { Http2Session } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { sourceOf } from './source-address.js';

export interface ConnectionLimits {
  handshakeTimeoutMs: number;
  unauthenticatedTimeoutMs: number;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  minBodyBytesPerSecond: number;
  bodyRateWindowMs: number;
  maxUnauthenticatedPerAddress: number;
  maxUnauthenticated: number;
}

/** Why the guard closed a connection (a closed set: these are metric label values). */
export const guardCloseReasons = [
  'address-limit',
  'total-limit',
  'handshake-timeout',
  'handshake-failed',
  'unauthenticated-timeout',
  'headers-timeout',
  'idle-timeout',
  'body-too-slow',
] as const;

export type GuardCloseReason = (typeof guardCloseReasons)[number];

export interface ConnectionGuardStats {
  /** Connections accepted and not yet authenticated (handshakes included). */
  unauthenticated: number;
  /** Connections closed by the guard since it started, by reason. */
  closed: Record<GuardCloseReason, number>;
}

interface Http1State {
  inFlight: number;
  waitingSinceMs: number;
  bytesReadAtWait: number;
  firstByteAtMs: number | undefined;
}

interface Tracked {
  readonly key: string;
  readonly source: string;
  readonly raw: Socket;
  readonly acceptedAtMs: number;
  /** The TLS socket once the handshake is done (closing it closes the raw socket too). */
  outer: Socket | undefined;
  session: Http2Session | undefined;
  handshaking: boolean;
  authenticated: boolean;
  http1: Http1State | undefined;
  /** Bodies being watched on this connection: they end with it. */
  readonly bodies: Set<BodyWatch>;
}

export interface ConnectionGuardOptions {
  limits: ConnectionLimits;
  /** Named in the log lines, e.g. "station port". */
  listener: string;
  /** Where the limits are configured, for messages: e.g. "hub.yaml connections". */
  configKey: string;
  logger: Logger;
  /** Deadlines are spans of time: a monotonic clock by default, which a wall-clock jump cannot move. */
  clock?: Clock;
  /** How often deadlines are checked. */
  tickMs?: number;
}

const monotonicClock: Clock = { now: () => performance.now() };

/** Keys a connection by its peer's address and port: unique among the live connections of a listener. */
function keyOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${socket.remoteAddress ?? '?'}|${socket.remotePort ?? '?'}`;
}

export class ConnectionGuard {
  readonly limits: Readonly<ConnectionLimits>;
  readonly configKey: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #listener: string;
  readonly #tickMs: number;
  readonly #byKey = new Map<string, Tracked>();
  /** The same, by the socket objects themselves (TCP and TLS), to spare building a key per request. */
  readonly #bySocket = new WeakMap<object, Tracked>();
  /** Unauthenticated connections, oldest first (a Set keeps insertion order). */
  readonly #unauthenticated = new Set<Tracked>();
  readonly #unauthenticatedBySource = new Map<string, Set<Tracked>>();
  /** Connections with a deadline of their own beyond the unauthenticated one: handshakes, HTTP/1.1. */
  readonly #watched = new Set<Tracked>();
  readonly #bodies = new Set<BodyWatch>();
  readonly #closed = Object.fromEntries(guardCloseReasons.map((r) => [r, 0])) as Record<
    GuardCloseReason,
    number
  >;
  #timer: NodeJS.Timeout | undefined;
  #summaryTimer: NodeJS.Timeout | undefined;
  #sinceSummary = 0;

  constructor(options: ConnectionGuardOptions) {
    this.limits = Object.freeze({ ...options.limits });
    this.configKey = options.configKey;
    this.#clock = options.clock ?? monotonicClock;
    this.#logger = options.logger;
    this.#listener = options.listener;
    this.#tickMs = options.tickMs ?? 250;
  }

  /**
   * Watches every connection `server` accepts. `tls`: the server is a TLS server (handshake
   * deadline; failed handshakes are closed). `http1`: which connections speak HTTP/1.1 (their
   * requests are followed for the keep-alive and header deadlines): all of them, those that did not
   * choose `h2` by ALPN, or none.
   */
  attach(server: Server, options: { tls: boolean; http1: 'all' | 'alpn' | 'none' }): void {
    // Before the TLS server wraps the socket, so that a refused one never starts a handshake.
    server.prependListener('connection', (raw: Socket) => this.#accept(raw, options));
    if (options.tls) {
      server.on('secureConnection', (socket: TLSSocket) => {
        const tracked = this.#trackedOf(socket);
        if (!tracked) return;
        tracked.handshaking = false;
        tracked.outer = socket;
        this.#bySocket.set(socket, tracked);
        if (options.http1 === 'alpn' && socket.alpnProtocol !== 'h2') this.#followHttp1(tracked);
        if (!tracked.http1) this.#watched.delete(tracked);
      });
      // Node reports a failed or timed-out handshake here and leaves the socket open: close it.
      server.on('tlsClientError', (_err: Error, socket: TLSSocket) => socket.destroy());
    }
    if (options.http1 !== 'none') {
      server.on('request', (request: IncomingMessage, response: ServerResponse) => {
        if (request.httpVersionMajor !== 1) return;
        this.#requestStarted(request.socket, response);
      });
    }
    this.#timer ??= setInterval(() => this.sweep(), this.#tickMs).unref();
  }

  /**
   * The connection proved who is on it (a valid station certificate, a login, a bearer token): it
   * no longer counts against the caps, and the unauthenticated deadline no longer applies.
   */
  authenticated(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): void {
    const tracked = this.#trackedOf(socket);
    if (!tracked || tracked.authenticated) return;
    tracked.authenticated = true;
    this.#dropUnauthenticated(tracked);
    // Nothing more to watch: forget it (its close listener finds nothing).
    if (!tracked.http1 && !tracked.handshaking) this.#forget(tracked);
  }

  /** Whether the connection has authenticated (unknown connections count as authenticated: untracked). */
  isAuthenticated(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): boolean {
    return this.#trackedOf(socket)?.authenticated ?? true;
  }

  /** An HTTP/2 session on a connection: closed with GOAWAY at its deadline rather than cut. */
  session(session: Http2Session): void {
    const socket = session.socket as Socket | undefined;
    if (!socket) return;
    const tracked = this.#trackedOf(socket);
    if (tracked) tracked.session = session;
  }

  /**
   * A request body on `socket`'s connection to keep an eye on (see BodyWatch); `tooSlow` is called
   * at most once, and never once the guard itself closed the connection.
   */
  watchBody(
    socket: { remoteAddress?: string | undefined; remotePort?: number | undefined },
    tooSlow: () => void,
  ): BodyWatch {
    const connection = this.#trackedOf(socket)?.bodies;
    const watch = new BodyWatch(this, this.#clock.now(), tooSlow, connection);
    this.#bodies.add(watch);
    connection?.add(watch);
    return watch;
  }

  /** @internal BodyWatch leaves the sweep through this. */
  unwatchBody(watch: BodyWatch): void {
    this.#bodies.delete(watch);
  }

  /** Counts a close made elsewhere on the guard's behalf (a body cut by its server). */
  count(reason: GuardCloseReason): void {
    this.#closed[reason] += 1;
    this.#noteClosed();
  }

  stats(): ConnectionGuardStats {
    return { unauthenticated: this.#unauthenticated.size, closed: { ...this.#closed } };
  }

  /** Checks every deadline now (the timer calls it; tests call it after moving their clock). */
  sweep(): void {
    const nowMs = this.#clock.now();
    const { handshakeTimeoutMs, unauthenticatedTimeoutMs, headersTimeoutMs, idleTimeoutMs } = this.limits;
    // Oldest first: stop at the first one still inside its deadline.
    for (const tracked of this.#unauthenticated) {
      if (nowMs - tracked.acceptedAtMs < unauthenticatedTimeoutMs) break;
      this.#close(tracked, tracked.handshaking ? 'handshake-timeout' : 'unauthenticated-timeout');
    }
    for (const tracked of this.#watched) {
      if (tracked.handshaking) {
        if (nowMs - tracked.acceptedAtMs >= handshakeTimeoutMs) this.#close(tracked, 'handshake-timeout');
        continue;
      }
      const http1 = tracked.http1;
      if (!http1 || http1.inFlight > 0) continue;
      if (http1.firstByteAtMs === undefined && tracked.raw.bytesRead > http1.bytesReadAtWait)
        http1.firstByteAtMs = nowMs;
      if (http1.firstByteAtMs !== undefined) {
        if (nowMs - http1.firstByteAtMs >= headersTimeoutMs) this.#close(tracked, 'headers-timeout');
      } else if (nowMs - http1.waitingSinceMs >= idleTimeoutMs) {
        this.#close(tracked, 'idle-timeout');
      }
    }
    for (const watch of this.#bodies) watch.check(nowMs);
  }

  /** Stops the timers; connections stay as they are. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#summaryTimer);
    this.#summaryTimer = undefined;
  }

  #accept(raw: Socket, options: { tls: boolean; http1: 'all' | 'alpn' | 'none' }): void {
    const nowMs = this.#clock.now();
    const tracked: Tracked = {
      key: keyOf(raw),
      source: sourceOf(raw.remoteAddress),
      raw,
      acceptedAtMs: nowMs,
      outer: undefined,
      session: undefined,
      handshaking: options.tls,
      authenticated: false,
      http1: undefined,
      bodies: new Set(),
    };
    // Past a cap, the oldest unauthenticated connection makes room: it has had longer than the
    // newcomer to prove itself.
    const sameSource = this.#unauthenticatedBySource.get(tracked.source);
    if (sameSource && sameSource.size >= this.limits.maxUnauthenticatedPerAddress) {
      const oldest = sameSource.values().next();
      if (!oldest.done) this.#close(oldest.value, 'address-limit');
    }
    if (this.#unauthenticated.size >= this.limits.maxUnauthenticated) {
      const oldest = this.#unauthenticated.values().next();
      if (!oldest.done) this.#close(oldest.value, 'total-limit');
    }
    this.#byKey.set(tracked.key, tracked);
    this.#bySocket.set(raw, tracked);
    this.#unauthenticated.add(tracked);
    let bySource = this.#unauthenticatedBySource.get(tracked.source);
    if (!bySource) {
      bySource = new Set();
      this.#unauthenticatedBySource.set(tracked.source, bySource);
    }
    bySource.add(tracked);
    if (tracked.handshaking) this.#watched.add(tracked);
    if (options.http1 === 'all') this.#followHttp1(tracked);
    raw.once('close', () => {
      // Still tracked: it ended on its own (or by its server) before it authenticated.
      if (this.#byKey.get(tracked.key) !== tracked) return;
      if (tracked.handshaking) this.count('handshake-failed');
      this.#forget(tracked);
    });
  }

  #followHttp1(tracked: Tracked): void {
    tracked.http1 = {
      inFlight: 0,
      waitingSinceMs: this.#clock.now(),
      bytesReadAtWait: tracked.raw.bytesRead,
      firstByteAtMs: undefined,
    };
    this.#watched.add(tracked);
  }

  #requestStarted(socket: Socket, response: ServerResponse): void {
    const tracked = this.#trackedOf(socket);
    const http1 = tracked?.http1;
    if (!tracked || !http1) return;
    http1.inFlight += 1;
    // A response closes once: `on` spares once()'s wrapper on every request.
    response.on('close', () => {
      http1.inFlight -= 1;
      if (http1.inFlight > 0) return;
      http1.waitingSinceMs = this.#clock.now();
      http1.bytesReadAtWait = tracked.raw.bytesRead;
      http1.firstByteAtMs = undefined;
    });
  }

  /** What the guard keeps of a connection, by its socket (TCP, TLS, or an HTTP/2 request's stand-in). */
  #trackedOf(socket: {
    remoteAddress?: string | undefined;
    remotePort?: number | undefined;
  }): Tracked | undefined {
    return this.#bySocket.get(socket) ?? this.#byKey.get(keyOf(socket));
  }

  #dropUnauthenticated(tracked: Tracked): void {
    this.#unauthenticated.delete(tracked);
    const bySource = this.#unauthenticatedBySource.get(tracked.source);
    bySource?.delete(tracked);
    if (bySource?.size === 0) this.#unauthenticatedBySource.delete(tracked.source);
  }

  #forget(tracked: Tracked): void {
    if (this.#byKey.get(tracked.key) === tracked) this.#byKey.delete(tracked.key);
    this.#bySocket.delete(tracked.raw);
    if (tracked.outer) this.#bySocket.delete(tracked.outer);
    this.#dropUnauthenticated(tracked);
    this.#watched.delete(tracked);
  }

  #close(tracked: Tracked, reason: GuardCloseReason): void {
    this.#forget(tracked);
    for (const watch of tracked.bodies) watch.done();
    this.count(reason);
    const session = tracked.session;
    if (session && !session.destroyed) {
      // GOAWAY first: a client between requests then opens a new connection instead of failing.
      session.goaway();
      setTimeout(() => {
        session.destroy();
        (tracked.outer ?? tracked.raw).destroy();
      }, 500).unref();
      return;
    }
    (tracked.outer ?? tracked.raw).destroy();
  }

  /** One log line every few seconds with the count, not one per close: a flood must not flood the log. */
  #noteClosed(): void {
    this.#sinceSummary += 1;
    this.#summaryTimer ??= setTimeout(() => {
      this.#summaryTimer = undefined;
      this.#logger.warn(
        { listener: this.#listener, closedSinceLast: this.#sinceSummary, closed: this.#closed },
        `${this.#listener}: connections closed by deadlines or caps`,
      );
      this.#sinceSummary = 0;
    }, 5000).unref();
  }
}

/**
 * A request body's progress: at least `minBodyBytesPerSecond` × `bodyRateWindowMs` bytes in every
 * window, except while `exempt` says the window must not run (see there).
 */
export class BodyWatch {
  readonly #guard: ConnectionGuard;
  readonly #tooSlow: () => void;
  /** The watches of the same connection, which this one leaves when done. */
  readonly #connection: Set<BodyWatch> | undefined;
  #windowStartMs: number;
  #bytesInWindow = 0;
  #done = false;
  /**
   * True while the window must not run: the server itself is not reading (backpressure), or no
   * body is owed (between the frames of a channel). Set by the owner.
   */
  exempt: () => boolean = () => false;
  /**
   * Where the bytes are counted, when the owner does not report them with received(): returns the
   * bytes that arrived since it was last asked (an HTTP/1.1 connection's bytesRead, say).
   */
  pull: (() => number) | undefined;

  constructor(guard: ConnectionGuard, nowMs: number, tooSlow: () => void, connection?: Set<BodyWatch>) {
    this.#guard = guard;
    this.#windowStartMs = nowMs;
    this.#tooSlow = tooSlow;
    this.#connection = connection;
  }

  received(bytes: number): void {
    this.#bytesInWindow += bytes;
  }

  /** The body is complete, or abandoned: no more checks. */
  done(): void {
    this.#done = true;
    this.#guard.unwatchBody(this);
    this.#connection?.delete(this);
  }

  /** A new window from now (the body paused on the server's side, or a new body began). */
  restart(nowMs: number): void {
    this.#windowStartMs = nowMs;
    this.#bytesInWindow = 0;
  }

  check(nowMs: number): void {
    if (this.#done) return;
    if (this.pull) this.#bytesInWindow += this.pull();
    if (this.exempt()) {
      this.restart(nowMs);
      return;
    }
    const { bodyRateWindowMs, minBodyBytesPerSecond } = this.#guard.limits;
    if (nowMs - this.#windowStartMs < bodyRateWindowMs) return;
    if (this.#bytesInWindow * 1000 < minBodyBytesPerSecond * (nowMs - this.#windowStartMs)) {
      this.done();
      this.#guard.count('body-too-slow');
      this.#tooSlow();
      return;
    }
    this.restart(nowMs);
  }
}
