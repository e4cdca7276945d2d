// The tunnels connected to this hub node: one HTTP/2 client session per station, on the socket the
// station dialled. A newer tunnel from the same station replaces the older one.

import {
  connect as h2connect,
  constants as h2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
} from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import {
  header,
  http2SessionWindowBytes,
  http2Settings,
  probeHeaderValue,
  sessionProtocol,
  tunnelSessionPath,
  type ProbeKind,
} from '../../protocol/index.js';

export interface TunnelEvents {
  connected(stationId: string, remoteAddress: string): void;
  disconnected(stationId: string, reason: string): void;
}

interface Tunnel {
  session: ClientHttp2Session;
  socket: TLSSocket;
  connectedAtMs: number;
  /** Closes a tunnel that has stopped pinging. */
  idle: NodeJS.Timeout;
}

export class TunnelRegistry {
  readonly #tunnels = new Map<string, Tunnel>();
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #events: TunnelEvents;
  readonly #idleTimeoutMs: number;

  constructor(options: { clock: Clock; logger: Logger; events: TunnelEvents; idleTimeoutMs: number }) {
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#events = options.events;
    this.#idleTimeoutMs = options.idleTimeoutMs;
  }

  get size(): number {
    return this.#tunnels.size;
  }

  has(stationId: string): boolean {
    return this.#tunnels.has(stationId);
  }

  connectedSince(stationId: string): number | undefined {
    return this.#tunnels.get(stationId)?.connectedAtMs;
  }

  attach(stationId: string, socket: TLSSocket): void {
    const previous = this.#tunnels.get(stationId);
    socket.setNoDelay(true);
    const session = h2connect(`https://${stationId}`, {
      createConnection: () => socket,
      settings: http2Settings,
      maxSessionMemory: 64,
    });
    // The agent pings every 10 s; silence this long means the tunnel is dead. Neither the socket's
    // nor the session's timeout sees HTTP/2 PING frames (they dropped every tunnel after 30 s), so
    // each ping received re-arms this timer.
    const idle = setTimeout(() => socket.destroy(), this.#idleTimeoutMs);
    idle.unref();
    session.on('ping', () => idle.refresh());
    session.once('close', () => clearTimeout(idle));
    const tunnel: Tunnel = { session, socket, connectedAtMs: this.#clock.now(), idle };
    this.#tunnels.set(stationId, tunnel);
    if (previous) {
      previous.session.destroy();
      previous.socket.destroy();
    }
    session.on('error', (err) => this.#logger.debug({ err, stationId }, 'tunnel session error'));
    session.once('connect', () => session.setLocalWindowSize(http2SessionWindowBytes));
    session.once('close', () => {
      socket.destroy();
      if (this.#tunnels.get(stationId) === tunnel) {
        this.#tunnels.delete(stationId);
        this.#events.disconnected(stationId, 'tunnel closed');
      }
    });
    this.#events.connected(stationId, socket.remoteAddress ?? '');
  }

  /** Opens one session stream to the station's agent. */
  openSession(
    stationId: string,
    request: { service: string; ticket: string; sessionId: string; probe: ProbeKind | undefined },
  ): ClientHttp2Stream {
    const tunnel = this.#tunnels.get(stationId);
    if (!tunnel || tunnel.session.destroyed || tunnel.session.closed) {
      throw new LifelineError(
        'STATION_OFFLINE',
        `station ${stationId} has no tunnel to this hub: remote service is off or the appliance is offline`,
      );
    }
    return tunnel.session.request(
      {
        ':method': 'CONNECT',
        ':protocol': sessionProtocol,
        ':scheme': 'https',
        ':authority': stationId,
        ':path': tunnelSessionPath(request.service),
        [header.ticket]: request.ticket,
        [header.sessionId]: request.sessionId,
        ...(request.probe ? { [header.probe]: probeHeaderValue(request.probe) } : {}),
      },
      { endStream: false },
    );
  }

  /** Closes one station's tunnel (revocation, shutdown); false when it has none here. */
  disconnect(stationId: string, reason: string): boolean {
    const tunnel = this.#tunnels.get(stationId);
    if (!tunnel) return false;
    tunnel.session.goaway(h2.NGHTTP2_NO_ERROR, 0, Buffer.from(reason));
    tunnel.session.close();
    setTimeout(() => tunnel.socket.destroy(), 500).unref();
    return true;
  }

  /**
   * Tells every station to reconnect elsewhere (the node is draining) with a GOAWAY `NO_ERROR`
   * carrying `hint`, but keeps each tunnel while sessions run on it: no new session is opened on
   * it, and it closes by itself once its last session ends. An agent stops pinging a tunnel it
   * was sent away from, so the idle timeout no longer applies; the drain's deadline bounds it.
   * Returns how many tunnels were told.
   */
  drainAll(hint: string): number {
    for (const tunnel of this.#tunnels.values()) {
      clearTimeout(tunnel.idle);
      if (tunnel.session.closed || tunnel.session.destroyed) continue;
      tunnel.session.goaway(h2.NGHTTP2_NO_ERROR, 0, Buffer.from(hint));
      tunnel.session.close();
    }
    return this.#tunnels.size;
  }

  /**
   * Closes every tunnel as disconnect does (shutdown), and resolves once all of them have closed: the
   * agents end their sessions first, so the end reason reaches the technicians. Each tunnel is
   * destroyed half a second after its GOAWAY at the latest.
   */
  async closeAll(reason: string): Promise<void> {
    const closed = [...this.#tunnels].map(([stationId, tunnel]) => {
      // A tunnel still listed has not closed yet: its close event removes it.
      const done = new Promise<void>((resolve) => tunnel.session.once('close', () => resolve()));
      this.disconnect(stationId, reason);
      return done;
    });
    await Promise.all(closed);
  }

  destroyAll(): void {
    for (const tunnel of this.#tunnels.values()) {
      tunnel.session.destroy();
      tunnel.socket.destroy();
    }
  }
}
