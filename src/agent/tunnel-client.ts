// The tunnel: the agent dials the hub (TLS 1.3, station certificate, trusting only the pinned hub
// CA), then serves HTTP/2 on that socket; each stream the hub opens is one session. Pings detect a
// dead tunnel; a lost tunnel ends its sessions and is redialled with backoff and full jitter.

import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { performServerHandshake, type ServerHttp2Session } from 'node:http2';
import { Backoff } from '../common/backoff.js';
import type { Clock } from '../common/clock.js';
import { parseHostPort } from '../common/host-port.js';
import type { Logger } from '../common/logger.js';
import { alpnTunnel, http2SessionWindowBytes, http2Settings } from '../protocol/index.js';
import type { SessionGate } from './session-gate.js';

export type TunnelState = 'disabled' | 'connecting' | 'connected' | 'waiting';

export interface TunnelStatus {
  state: TunnelState;
  sinceMs: number;
  endpoint: string | null;
  lastError: string | null;
  nextAttemptAtMs: number | null;
}

export interface TunnelClientOptions {
  endpoints: readonly string[];
  serverName: string | undefined;
  caPem: string;
  certPem: string;
  keyPem: string;
  gate: SessionGate;
  clock: Clock;
  logger: Logger;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  connectTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
}

export class TunnelClient extends EventEmitter<{ state: [TunnelStatus] }> {
  readonly #options: TunnelClientOptions;
  readonly #backoff: Backoff;
  #status: TunnelStatus;
  #enabled = false;
  #socket: TLSSocket | undefined;
  #session: ServerHttp2Session | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #hubSaid: string | null = null;

  constructor(options: TunnelClientOptions) {
    super();
    this.#options = options;
    this.#backoff = new Backoff({ minMs: options.reconnectMinMs, maxMs: options.reconnectMaxMs });
    this.#status = {
      state: 'disabled',
      sinceMs: options.clock.now(),
      endpoint: null,
      lastError: null,
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
    this.#dial();
  }

  /** Remote service off: close the tunnel and stop redialling. */
  disable(): void {
    this.#enabled = false;
    clearTimeout(this.#retryTimer);
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
    this.#setStatus({ state: 'disabled', endpoint: null, nextAttemptAtMs: null });
  }

  close(): void {
    this.disable();
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
    if (!this.#enabled) return;
    const options = this.#options;
    const endpoint = options.endpoints[0] ?? '';
    const { host, port } = parseHostPort(endpoint, 'hub endpoint');
    this.#setStatus({ state: 'connecting', endpoint, nextAttemptAtMs: null });
    const socket = tlsConnect({
      host,
      port,
      // SNI carries names only; an IP endpoint is checked against the certificate's IP SANs.
      servername: options.serverName ?? (isIP(host) ? undefined : host),
      ca: options.caPem,
      cert: options.certPem,
      key: options.keyPem,
      ALPNProtocols: [alpnTunnel],
      minVersion: 'TLSv1.3',
    });
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, options.pingIntervalMs);
    const connectTimer = setTimeout(
      () => socket.destroy(new Error('connection timed out')),
      options.connectTimeoutMs,
    );
    let failure: string | null = null;
    this.#hubSaid = null;
    socket.once('secureConnect', () => {
      clearTimeout(connectTimer);
      if (socket.alpnProtocol !== alpnTunnel) {
        socket.destroy(
          new Error(`the hub did not agree to the tunnel protocol (ALPN ${String(socket.alpnProtocol)})`),
        );
        return;
      }
      this.#serve(socket, endpoint);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      failure ??= describeError(err);
    });
    socket.once('close', () => {
      clearTimeout(connectTimer);
      if (this.#socket !== socket) return;
      // What the hub said in its GOAWAY explains more than the socket error that follows it.
      this.#onLost(this.#hubSaid ?? failure ?? 'connection closed');
    });
  }

  #serve(socket: TLSSocket, endpoint: string): void {
    const options = this.#options;
    const session = performServerHandshake(socket, { settings: http2Settings, maxSessionMemory: 64 });
    this.#session = session;
    session.setLocalWindowSize(http2SessionWindowBytes);
    session.on('stream', (stream, headers) => options.gate.handleStream(stream, headers));
    session.on('goaway', (_code: number, _lastStreamId: number, opaqueData?: Buffer) => {
      const said = opaqueData?.toString('utf8');
      if (said) this.#hubSaid = `the hub closed the tunnel: ${said}`;
      // The hub is going away: end the sessions now, so technicians learn why from the trailers.
      options.gate.stopAll('hub-shutdown');
    });
    session.on('error', (err) => options.logger.warn({ err }, 'tunnel session error'));
    // The hub sends its SETTINGS even when it refuses the station; a ping answered is acceptance.
    session.once('remoteSettings', () => {
      session.ping((err) => {
        if (err || session.destroyed) return;
        this.#backoff.reset();
        this.#setStatus({ state: 'connected', endpoint, lastError: null });
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
      session.destroy(new Error('the hub did not answer a ping'));
    }, this.#options.pingTimeoutMs);
    const sent = session.ping((err) => {
      clearTimeout(timeout);
      if (err && !session.destroyed) session.destroy(err);
    });
    if (!sent) clearTimeout(timeout);
  }

  #onLost(reason: string): void {
    const wasConnected = this.#status.state === 'connected';
    this.#teardown();
    if (!this.#enabled) return;
    if (wasConnected) this.#options.logger.warn({ reason }, 'tunnel lost');
    const delayMs = this.#backoff.nextDelayMs(this.#options.clock.now());
    this.#setStatus({
      state: 'waiting',
      lastError: reason,
      nextAttemptAtMs: this.#options.clock.now() + delayMs,
    });
    this.#retryTimer = setTimeout(() => this.#dial(), delayMs);
  }

  #teardown(): void {
    clearInterval(this.#pingTimer);
    this.#options.gate.stopAll('tunnel-lost');
    const session = this.#session;
    const socket = this.#socket;
    this.#session = undefined;
    this.#socket = undefined;
    session?.destroy();
    socket?.destroy();
  }
}

function describeError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused: the hub is not listening';
    case 'ENOTFOUND':
      return 'the hub name could not be resolved';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return 'the hub certificate does not name this hub address';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return 'the hub certificate is not issued by the pinned hub CA';
    default:
      return err.message;
  }
}
