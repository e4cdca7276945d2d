// The station port: mutual TLS 1.3. ALPN tells the tunnel channel from the call-home channel and
// from the upload channel (attachment chunks on a connection of their own).
// New tunnels are first admitted at a bounded rate (admission.ts), then need a valid station
// certificate from this hub's CA and a known, unrevoked station; call home serves enrollment
// without one and everything else only with one.

import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { connect as h2connect, constants as h2 } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../common/logger.js';
import type { HostPort } from '../../common/net/index.js';
import {
  alpnCallHome,
  alpnPeer,
  alpnTunnel,
  alpnUpload,
  isStationId,
  stationPortTls,
} from '../../protocol/index.js';
import { nodeCertPrefix } from '../../pki/index.js';
import type { ConnectionGuard } from '../../common/net/index.js';
import type { HubStore } from '../store/index.js';
import type { TunnelRegistry } from './tunnel-registry.js';
import type { HubAudit } from '../audit/index.js';
import { retryLaterMessage, type TunnelAdmission } from './admission.js';

/** The station port's certificate, chain and the CA bundle station certificates are checked against. */
export interface StationListenerCredentials {
  keyPem: string;
  certChainPem: string;
  caPem: string;
}

export interface StationListenerOptions extends StationListenerCredentials {
  store: HubStore;
  registry: TunnelRegistry;
  audit: HubAudit;
  admission: TunnelAdmission;
  /** Deadlines and caps of this port's connections; a valid station certificate authenticates. */
  guard: ConnectionGuard;
  logger: Logger;
  /** Hands a call-home connection to the HTTP/2 server. */
  callHome: (socket: TLSSocket) => void;
  /** Hands an upload channel connection to the attachment receiver. */
  upload: (socket: TLSSocket) => void;
  /** Hands a link from another hub node of the cluster (node certificate checked) over. */
  peer: (socket: TLSSocket) => void;
}

/** The hub node a connection's certificate names (CN lifeline-node:ID), if any. */
export function peerNodeId(socket: TLSSocket): string | undefined {
  const cn = socket.getPeerCertificate().subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return typeof name === 'string' && name.startsWith(nodeCertPrefix)
    ? name.slice(nodeCertPrefix.length)
    : undefined;
}

export function peerStationId(socket: TLSSocket): string | undefined {
  const cert = socket.getPeerCertificate();
  const cn = cert.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return typeof name === 'string' && isStationId(name) ? name : undefined;
}

/**
 * TLS settings of the secure context (TLS 1.3, its suites, key-exchange groups and signature
 * algorithms: tls-settings.ts); kept in one place so new credentials keep them.
 */
function secureContextOptions(credentials: StationListenerCredentials) {
  return {
    key: credentials.keyPem,
    cert: credentials.certChainPem,
    ca: credentials.caPem,
    ...stationPortTls,
  } as const;
}

export class StationListener {
  readonly #server: TlsServer;
  readonly #options: StationListenerOptions;
  readonly #sockets = new Set<TLSSocket>();
  /** Call-home connections by the station their certificate names, so revocation can end them. */
  readonly #callHomeSockets = new Map<string, Set<TLSSocket>>();
  #refusedSinceSummary = 0;
  #lastRetryAfterMs = 0;
  #summaryTimer: NodeJS.Timeout | undefined;

  constructor(options: StationListenerOptions) {
    this.#options = options;
    this.#server = createTlsServer({
      ...secureContextOptions(options),
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: [alpnTunnel, alpnCallHome, alpnUpload, alpnPeer],
      // The guard's handshake deadline closes a slow handshake; Node's own (which only reports) is a backstop.
      handshakeTimeout: options.guard.limits.handshakeTimeoutMs + 1000,
    });
    options.guard.attach(this.#server, { tls: true, http1: 'none' });
    this.#server.on('secureConnection', (socket) => {
      // A station certificate of this CA is who the station is; everything else (enrollment, an
      // expired certificate's renewal, strangers) stays under the unauthenticated deadline.
      if (socket.authorized && (peerStationId(socket) ?? peerNodeId(socket)))
        options.guard.authenticated(socket);
      this.#sockets.add(socket);
      socket.setNoDelay(true);
      socket.once('close', () => this.#sockets.delete(socket));
      this.#dispatch(socket).catch((err: unknown) => {
        options.logger.error({ err }, 'station connection failed');
        socket.destroy();
      });
    });
    this.#server.on('tlsClientError', (err) => options.logger.debug({ err }, 'station TLS handshake failed'));
  }

  /**
   * New key, certificate chain or CA bundle (CA rotation): used for connections from now on;
   * connections already up keep theirs. The TLS settings (TLS 1.3 only, ciphers) stay.
   */
  setCredentials(credentials: StationListenerCredentials): void {
    this.#server.setSecureContext(secureContextOptions(credentials));
  }

  /**
   * Ends everything a station has open on this node (revocation): its tunnel gets a GOAWAY with
   * the reason, its call-home connections are destroyed. Returns how many connections it closed.
   */
  closeStation(stationId: string, reason: string): number {
    let closed = this.#options.registry.disconnect(stationId, reason) ? 1 : 0;
    const callHome = this.#callHomeSockets.get(stationId);
    this.#callHomeSockets.delete(stationId);
    for (const socket of callHome ?? []) {
      socket.destroy();
      closed += 1;
    }
    if (closed > 0) this.#options.logger.info({ stationId, reason, closed }, 'station connections closed');
    return closed;
  }

  async listen(address: HostPort): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(address.port, address.host, () => {
        this.#server.removeListener('error', reject);
        resolve();
      });
    });
    return this.#server.address() as AddressInfo;
  }

  async #dispatch(socket: TLSSocket): Promise<void> {
    const { store, registry, audit, admission, logger } = this.#options;
    if (socket.alpnProtocol === alpnCallHome) {
      this.#trackCallHome(socket);
      this.#options.callHome(socket);
      return;
    }
    if (socket.alpnProtocol === alpnUpload) {
      // Closed with the station's call-home connections when it is revoked.
      this.#trackCallHome(socket);
      this.#options.upload(socket);
      return;
    }
    if (socket.alpnProtocol === alpnPeer) {
      // Another node of the cluster: its node certificate from this hub's CA, nothing else.
      if (socket.authorized && peerNodeId(socket)) this.#options.peer(socket);
      else {
        logger.warn(
          { remote: socket.remoteAddress },
          'a hub node link without a node certificate was refused',
        );
        socket.destroy();
      }
      return;
    }
    if (socket.alpnProtocol !== alpnTunnel) {
      socket.destroy();
      return;
    }
    const remote = socket.remoteAddress ?? '';
    // The certificate was checked in the handshake: a stranger is refused before admission, so it
    // cannot use up the stations' share of the rate.
    const stationId = socket.authorized ? peerStationId(socket) : undefined;
    if (!stationId) {
      const why = socket.authorizationError
        ? `the station certificate is not accepted (${String(socket.authorizationError)}): it is not issued by this hub's CA`
        : 'the station certificate names no station';
      await audit.record('station', 'tunnel.refused', null, {
        remote,
        code: 'TUNNEL_CERT_REJECTED',
        reason: why,
      });
      refuseTunnel(socket, why, h2.NGHTTP2_INADEQUATE_SECURITY);
      return;
    }
    // Admission comes before any store work, so a refused station costs only its handshake.
    const decision = admission.tryAdmit();
    if (logger.isLevelEnabled('debug')) {
      // One line per decision, with the time the rate is counted on (the storm test reads these).
      logger.debug(
        {
          stationId,
          admitted: decision.admitted,
          atMs: decision.atMs,
          retryAfterMs: decision.admitted ? null : decision.retryAfterMs,
        },
        'tunnel admission',
      );
    }
    if (!decision.admitted) {
      // A draining node's refusals are expected; the drain logs its own progress.
      if (!decision.elsewhere) this.#noteRefused(decision.retryAfterMs);
      refuseTunnel(
        socket,
        retryLaterMessage(decision.retryAfterMs, decision.reason, decision.elsewhere),
        h2.NGHTTP2_ENHANCE_YOUR_CALM,
      );
      return;
    }
    const station = await store.getStation(stationId);
    if (!station || station.revokedAtMs !== null) {
      const why = station ? 'this station is revoked' : 'this station is not enrolled with this hub';
      await audit.record(`station:${stationId}`, 'tunnel.refused', stationId, {
        remote,
        code: 'TUNNEL_CERT_REJECTED',
        reason: why,
      });
      refuseTunnel(socket, why, h2.NGHTTP2_INADEQUATE_SECURITY);
      return;
    }
    logger.debug({ stationId, remote }, 'tunnel accepted');
    registry.attach(stationId, socket);
  }

  #trackCallHome(socket: TLSSocket): void {
    const stationId = socket.authorized ? peerStationId(socket) : undefined;
    if (!stationId) return;
    let sockets = this.#callHomeSockets.get(stationId);
    if (!sockets) {
      sockets = new Set();
      this.#callHomeSockets.set(stationId, sockets);
    }
    sockets.add(socket);
    socket.once('close', () => {
      const current = this.#callHomeSockets.get(stationId);
      current?.delete(socket);
      if (current?.size === 0) this.#callHomeSockets.delete(stationId);
    });
  }

  /** Refusals are logged as one summary line every few seconds: a storm must not flood the log. */
  #noteRefused(retryAfterMs: number): void {
    this.#refusedSinceSummary += 1;
    this.#lastRetryAfterMs = retryAfterMs;
    this.#summaryTimer ??= setTimeout(() => {
      this.#summaryTimer = undefined;
      this.#options.logger.warn(
        {
          refused: this.#refusedSinceSummary,
          code: 'TUNNEL_ADMISSION_LIMITED',
          tunnelsPerSecond: this.#options.admission.tunnelsPerSecond,
          lastRetryAfterMs: this.#lastRetryAfterMs,
        },
        'new tunnels refused: admission rate reached, stations told to retry later',
      );
      this.#refusedSinceSummary = 0;
    }, 5000).unref();
  }

  /** Stops accepting; existing connections stay until closed by their owners. */
  async close(): Promise<void> {
    clearTimeout(this.#summaryTimer);
    this.#summaryTimer = undefined;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }
}

/**
 * Tells the agent why over HTTP/2 (GOAWAY with the reason as debug data), then closes.
 * INADEQUATE_SECURITY: the station is not accepted; ENHANCE_YOUR_CALM: retry later.
 */
function refuseTunnel(socket: TLSSocket, why: string, code: number): void {
  const session = h2connect('https://refused', { createConnection: () => socket });
  session.on('error', () => undefined);
  session.once('connect', () => {
    session.goaway(code, 0, Buffer.from(why));
    setTimeout(() => session.destroy(), 200).unref();
  });
  setTimeout(() => session.destroy(), 2000).unref();
}
