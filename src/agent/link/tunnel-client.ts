// The tunnel: the agent dials the hub through the HubDialer (endpoints in order of preference, the
// customer's proxy if any; TLS 1.3, station certificate, trusting only the pinned hub CA), then
// serves HTTP/2 on that socket; each stream the hub opens is one session. Pings detect a dead
// tunnel; a lost tunnel ends its sessions and is redialled with backoff and full jitter. A hub that
// says "retry later" (GOAWAY ENHANCE_YOUR_CALM, `retry-after-ms=N; reason`) is obeyed on the same
// endpoint; a preferred endpoint back in service takes the tunnel once no session is live on it.
// A hub node that drains (the hint says `reconnect=elsewhere`) is left at once for the next
// endpoint: its tunnel is kept, without new work, until the sessions on it end (docs/protocol.md).

import { EventEmitter } from 'node:events';
import type { TLSSocket } from 'node:tls';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { constants as h2constants, performServerHandshake, type ServerHttp2Session } from 'node:http2';
import { Backoff } from '../../common/backoff.js';
import type { Clock } from '../../common/clock.js';
import { LifelineError, type ErrorCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import {
  alpnTunnel,
  http2SessionWindowBytes,
  http2Settings,
  parseGoawayHint,
  type GoawayHint,
  type SessionEndReason,
} from '../../protocol/index.js';
import { drainingAvoidMs, type HubDialer } from './hub-dialer.js';
import { toLinkError } from './link-errors.js';

export type TunnelState = 'disabled' | 'connecting' | 'connected' | 'waiting';

export interface TunnelStatus {
  state: TunnelState;
  sinceMs: number;
  endpoint: string | null;
  lastError: string | null;
  /** The code of lastError: LINK_* and PROXY_* for the way to the hub, TUNNEL_* for the hub's word. */
  lastErrorCode: ErrorCode | null;
  nextAttemptAtMs: number | null;
}

/** What the tunnel needs to know of the station's credentials (StationCredentials). */
export interface CredentialWatch {
  readonly notAfterMs: number;
  expired(nowMs: number): boolean;
  on(event: 'changed', listener: () => void): unknown;
  off(event: 'changed', listener: () => void): unknown;
}

/** What takes the streams the hub opens on the tunnel: the session gate. */
export interface TunnelStreamHandler {
  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void;
  /** Ends every session; returns how many there were. */
  stopAll(reason: SessionEndReason): number;
  readonly activeCount: number;
}

export interface TunnelClientOptions {
  dialer: HubDialer;
  /** Absent: the certificate's expiry is not watched (tests with fixed credentials). */
  credentials?: CredentialWatch;
  gate: TunnelStreamHandler;
  clock: Clock;
  logger: Logger;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  random?: () => number;
}

/** The most a move away from a draining node waits: spread, so its stations do not land at once. */
const drainJitterMs = 1000;

export class TunnelClient extends EventEmitter<{ state: [TunnelStatus] }> {
  readonly #options: TunnelClientOptions;
  readonly #backoff: Backoff;
  readonly #random: () => number;
  #status: TunnelStatus;
  #enabled = false;
  #dialing: AbortController | undefined;
  #socket: TLSSocket | undefined;
  #session: ServerHttp2Session | undefined;
  /** Which endpoint (index in agent.yaml) the live tunnel uses. */
  #endpointIndex = -1;
  #retryTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #hubSaid: LifelineError | null = null;
  #retryLater: GoawayHint | undefined;
  /**
   * Tunnels to draining hub nodes, kept while sessions run on them: the hub closes each once its
   * last session ends (or at its drain deadline). They take no new work.
   */
  readonly #retiring = new Set<TLSSocket>();
  readonly #onCredentialsChanged = () => this.#credentialsChanged();
  readonly #onFailback = () => this.#maybeFailback();

  constructor(options: TunnelClientOptions) {
    super();
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.#backoff = new Backoff({
      minMs: options.reconnectMinMs,
      maxMs: options.reconnectMaxMs,
      random: this.#random,
    });
    this.#status = {
      state: 'disabled',
      sinceMs: options.clock.now(),
      endpoint: null,
      lastError: null,
      lastErrorCode: null,
      nextAttemptAtMs: null,
    };
  }

  get status(): TunnelStatus {
    return { ...this.#status };
  }

  /** Remote service on: keep a tunnel open until disable(). */
  enable(): void {
    if (this.#enabled) return;
    this.#enabled = true;
    this.#backoff.reset();
    this.#options.credentials?.on('changed', this.#onCredentialsChanged);
    this.#options.dialer.on('failback', this.#onFailback);
    this.#dial();
  }

  /** Remote service off: close the tunnel and stop redialling. */
  disable(): void {
    this.#enabled = false;
    this.#options.credentials?.off('changed', this.#onCredentialsChanged);
    this.#options.dialer.off('failback', this.#onFailback);
    clearTimeout(this.#retryTimer);
    this.#dialing?.abort();
    this.#dialing = undefined;
    const session = this.#session;
    if (session && !session.destroyed) {
      // Graceful: sessions already told to stop get to send their end reason to the technician.
      clearInterval(this.#pingTimer);
      this.#session = undefined;
      const socket = this.#socket;
      this.#socket = undefined;
      session.close(() => socket?.destroy());
      setTimeout(() => {
        this.#options.gate.stopAll('remote-service-off');
        session.destroy();
        socket?.destroy();
      }, 1000).unref();
    } else {
      this.#teardown();
    }
    for (const socket of this.#retiring) setTimeout(() => socket.destroy(), 1000).unref();
    this.#setStatus({ state: 'disabled', endpoint: null, nextAttemptAtMs: null });
  }

  close(): void {
    this.disable();
  }

  /** A session ended: if a preferred endpoint is waiting for the tunnel, it may move now. */
  sessionEnded(): void {
    this.#maybeFailback();
  }

  #setStatus(change: Partial<TunnelStatus>): void {
    const stateChanged = change.state !== undefined && change.state !== this.#status.state;
    this.#status = {
      ...this.#status,
      ...change,
      ...(stateChanged ? { sinceMs: this.#options.clock.now() } : {}),
    };
    this.emit('state', this.status);
  }

  #dial(): void {
    if (!this.#enabled || this.#dialing || this.#socket) return;
    clearTimeout(this.#retryTimer);
    const { credentials, clock, dialer } = this.#options;
    if (credentials?.expired(clock.now())) {
      // An expired certificate would only be refused: wait for renewal to replace it ('changed').
      this.#setStatus({
        state: 'waiting',
        endpoint: null,
        lastError: `the station certificate expired at ${new Date(credentials.notAfterMs).toISOString()}: renewal is waiting for the hub`,
        lastErrorCode: 'STATION_CERT_EXPIRED',
        nextAttemptAtMs: null,
      });
      return;
    }
    const attempt = new AbortController();
    this.#dialing = attempt;
    this.#hubSaid = null;
    this.#retryLater = undefined;
    this.#setStatus({ state: 'connecting', endpoint: dialer.current.endpoint, nextAttemptAtMs: null });
    dialer.dial(alpnTunnel, attempt.signal).then(
      ({ socket, endpoint, index }) => {
        if (this.#dialing !== attempt) {
          socket.destroy();
          return;
        }
        this.#dialing = undefined;
        this.#attach(socket, endpoint, index);
      },
      (err: unknown) => {
        if (this.#dialing !== attempt) return;
        this.#dialing = undefined;
        this.#onLost(toLinkError(err));
      },
    );
  }

  #attach(socket: TLSSocket, endpoint: string, index: number): void {
    const options = this.#options;
    this.#socket = socket;
    this.#endpointIndex = index;
    this.#setStatus({ endpoint });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, options.pingIntervalMs);
    let failure: LifelineError | null = null;
    socket.on('error', (err: Error) => {
      failure ??= toLinkError(err, undefined, 'LINK_RESET');
    });
    socket.once('close', () => {
      if (this.#socket !== socket) return;
      // What the hub said in its GOAWAY explains more than the socket error that follows it.
      this.#onLost(this.#hubSaid ?? failure ?? new LifelineError('TUNNEL_LOST', 'connection closed'));
    });
    this.#serve(socket, endpoint);
  }

  #serve(socket: TLSSocket, endpoint: string): void {
    const options = this.#options;
    const session = performServerHandshake(socket, { settings: http2Settings, maxSessionMemory: 64 });
    this.#session = session;
    session.setLocalWindowSize(http2SessionWindowBytes);
    session.on('stream', (stream, headers) => options.gate.handleStream(stream, headers));
    session.on('goaway', (code: number, _lastStreamId: number, opaqueData?: Buffer) => {
      // A tunnel left for another hub node: what its hub says now is for the sessions on it alone.
      if (this.#session !== session) return;
      const said = opaqueData?.toString('utf8');
      const hint = said ? parseGoawayHint(said) : undefined;
      if (hint?.elsewhere && code === h2constants.NGHTTP2_NO_ERROR) {
        this.#leaveDrainingHub(session, socket, hint);
        return;
      }
      const retryLater = code === h2constants.NGHTTP2_ENHANCE_YOUR_CALM ? hint : undefined;
      if (retryLater) this.#retryLater = retryLater;
      else if (said)
        this.#hubSaid = new LifelineError(
          // INADEQUATE_SECURITY: the hub does not accept this station's certificate (docs/protocol.md).
          code === h2constants.NGHTTP2_INADEQUATE_SECURITY ? 'TUNNEL_CERT_REJECTED' : 'TUNNEL_LOST',
          `the hub closed the tunnel: ${said}`,
        );
      // The hub is going away: end the sessions now, so technicians learn why from the trailers.
      options.gate.stopAll('hub-shutdown');
    });
    session.on('error', (err) => options.logger.warn({ err }, 'tunnel session error'));
    // The hub sends its SETTINGS even when it refuses the station; a ping answered is acceptance.
    session.once('remoteSettings', () => {
      session.ping((err) => {
        if (err || session.destroyed || this.#retryLater) return;
        this.#backoff.reset();
        this.#setStatus({ state: 'connected', endpoint, lastError: null, lastErrorCode: null });
        // The preferred endpoint may have come back while this one was being dialled.
        this.#maybeFailback();
      });
    });
    const pingTimer = setInterval(() => this.#ping(session), options.pingIntervalMs);
    this.#pingTimer = pingTimer;
    session.once('close', () => clearInterval(pingTimer));
  }

  #ping(session: ServerHttp2Session): void {
    // A session destroyed by the previous ping's timeout may not have closed its socket yet.
    if (session.destroyed || session.closed) return;
    const timeout = setTimeout(() => {
      session.destroy(new LifelineError('LINK_TIMEOUT', 'the hub did not answer a ping'));
    }, this.#options.pingTimeoutMs);
    const sent = session.ping((err) => {
      clearTimeout(timeout);
      if (err && !session.destroyed) session.destroy(err);
    });
    if (!sent) clearTimeout(timeout);
  }

  /**
   * Moves a connected tunnel to the endpoint the dialer now prefers, but only while no session is
   * live: a technician's work is not cut for a better route.
   */
  #maybeFailback(): void {
    if (!this.#enabled || this.#status.state !== 'connected') return;
    const preferred = this.#options.dialer.current;
    // Only ever towards a more preferred endpoint (call home may have moved the dialer the other way).
    if (preferred.index >= this.#endpointIndex || this.#options.gate.activeCount > 0) return;
    const session = this.#session;
    const socket = this.#socket;
    this.#options.logger.info(
      { from: this.#status.endpoint, to: preferred.endpoint },
      'moving the tunnel back to the preferred hub endpoint',
    );
    clearInterval(this.#pingTimer);
    this.#session = undefined;
    this.#socket = undefined;
    if (session && !session.destroyed) session.close(() => socket?.destroy());
    else socket?.destroy();
    setTimeout(() => socket?.destroy(), 1000).unref();
    this.#backoff.reset();
    this.#dial();
  }

  #credentialsChanged(): void {
    // Renewed or re-pinned: a tunnel waiting (for an expired certificate, or after a failure) dials
    // now; a live tunnel keeps going and the next connection uses the new credentials.
    if (!this.#enabled || this.#socket || this.#dialing) return;
    clearTimeout(this.#retryTimer);
    this.#dial();
  }

  #onLost(reason: LifelineError): void {
    const wasConnected = this.#status.state === 'connected';
    const retryLater = this.#retryLater;
    const index = this.#endpointIndex;
    const endpoint = this.#status.endpoint;
    this.#retryLater = undefined;
    this.#teardown();
    if (!this.#enabled) return;
    const now = this.#options.clock.now();
    let delayMs = this.#backoff.nextDelayMs(now);
    let lastError = reason.message;
    let lastErrorCode = reason.code;
    if (retryLater?.elsewhere) {
      // A draining node refused the tunnel: the next endpoint at once, or this one after the hint.
      const moved = this.#options.dialer.avoid(index, drainingAvoidMs);
      delayMs = moved
        ? Math.floor(this.#random() * drainJitterMs)
        : Math.max(delayMs, retryLater.retryAfterMs + Math.floor(this.#random() * retryLater.retryAfterMs));
      lastError = `the hub at ${endpoint ?? '?'} is draining (${retryLater.reason}): ${moved ? 'dialling the next hub address' : `dialling it again in ${delayMs} ms, the only hub address`}`;
      lastErrorCode = 'HUB_DRAINING';
      this.#options.logger.info(
        { endpoint, delayMs, moved, retryAfterMs: retryLater.retryAfterMs },
        'the hub is draining: reconnecting elsewhere',
      );
    } else if (retryLater) {
      // Not an endpoint failure: the same endpoint is dialled again, after at least the hub's wait.
      const { retryAfterMs } = retryLater;
      delayMs = Math.max(delayMs, retryAfterMs + Math.floor(this.#random() * retryAfterMs));
      lastError = `the hub is busy: ${retryLater.reason}; retry in ${delayMs} ms`;
      lastErrorCode = 'TUNNEL_ADMISSION_LIMITED';
      this.#options.logger.info({ retryAfterMs, delayMs }, 'the hub asked to retry later');
    } else if (wasConnected) {
      this.#options.logger.warn({ reason: reason.message, code: reason.code }, 'tunnel lost');
    }
    this.#setStatus({ state: 'waiting', lastError, lastErrorCode, nextAttemptAtMs: now + delayMs });
    this.#retryTimer = setTimeout(() => this.#dial(), delayMs);
  }

  /**
   * The hub node of the live tunnel drains (GOAWAY NO_ERROR with a `reconnect=elsewhere` hint): the
   * tunnel is kept for the sessions running on it (the hub opens no new one there and closes it
   * after the last), and a new tunnel is dialled at once, to the next endpoint when there is one.
   */
  #leaveDrainingHub(session: ServerHttp2Session, socket: TLSSocket, hint: GoawayHint): void {
    const { dialer, logger, gate, clock } = this.#options;
    const endpoint = this.#status.endpoint;
    clearInterval(this.#pingTimer);
    this.#session = undefined;
    this.#socket = undefined;
    this.#retiring.add(socket);
    socket.once('close', () => {
      this.#retiring.delete(socket);
      logger.info({ endpoint }, 'the tunnel to the draining hub closed');
    });
    if (session.destroyed) socket.destroy();
    const moved = dialer.avoid(this.#endpointIndex, drainingAvoidMs);
    this.#endpointIndex = -1;
    const delayMs = moved
      ? Math.floor(this.#random() * drainJitterMs)
      : hint.retryAfterMs + Math.floor(this.#random() * hint.retryAfterMs);
    const sessions = gate.activeCount;
    logger.info(
      { endpoint, sessions, moved, delayMs, retryAfterMs: hint.retryAfterMs, reason: hint.reason },
      moved
        ? 'the hub is draining: moving the tunnel to the next hub address; running sessions stay on the old one until they end'
        : 'the hub is draining and is the only hub address: dialling it again after its hint',
    );
    this.#backoff.reset();
    this.#setStatus({
      state: 'waiting',
      lastError: `the hub at ${endpoint ?? '?'} is draining (${hint.reason}): ${moved ? 'moving to the next hub address' : 'dialling it again'}; ${sessions} session(s) stay on its tunnel until they end`,
      lastErrorCode: 'HUB_DRAINING',
      nextAttemptAtMs: clock.now() + delayMs,
    });
    this.#retryTimer = setTimeout(() => this.#dial(), delayMs);
  }

  #teardown(): void {
    clearInterval(this.#pingTimer);
    // Sessions still running on a draining node's tunnel are not this tunnel's to end; this
    // tunnel's own streams end with its session below.
    if (this.#retiring.size === 0) this.#options.gate.stopAll('tunnel-lost');
    const session = this.#session;
    const socket = this.#socket;
    this.#session = undefined;
    this.#socket = undefined;
    this.#endpointIndex = -1;
    session?.destroy();
    socket?.destroy();
  }
}
