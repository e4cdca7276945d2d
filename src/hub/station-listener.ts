// The station port: mutual TLS 1.3. ALPN tells the tunnel channel from the call-home channel.
// Tunnels need a valid station certificate from this hub's CA and a known, unrevoked station;
// call home serves enrollment without one and everything else only with one.

import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { connect as h2connect, constants as h2 } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../common/logger.js';
import type { HostPort } from '../common/host-port.js';
import { alpnCallHome, alpnTunnel, isStationId, tlsCipherPreference } from '../protocol/index.js';
import type { HubStore } from '../store/index.js';
import type { TunnelRegistry } from './tunnel-registry.js';
import type { HubAudit } from './hub-audit.js';

export interface StationListenerOptions {
  keyPem: string;
  certChainPem: string;
  caPem: string;
  store: HubStore;
  registry: TunnelRegistry;
  audit: HubAudit;
  logger: Logger;
  /** Hands a call-home connection to the HTTP/2 server. */
  callHome: (socket: TLSSocket) => void;
}

export function peerStationId(socket: TLSSocket): string | undefined {
  const cert = socket.getPeerCertificate();
  const cn = cert.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return typeof name === 'string' && isStationId(name) ? name : undefined;
}

export class StationListener {
  readonly #server: TlsServer;
  readonly #options: StationListenerOptions;
  readonly #sockets = new Set<TLSSocket>();

  constructor(options: StationListenerOptions) {
    this.#options = options;
    this.#server = createTlsServer({
      key: options.keyPem,
      cert: options.certChainPem,
      ca: options.caPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      ciphers: tlsCipherPreference,
      honorCipherOrder: true,
      ALPNProtocols: [alpnTunnel, alpnCallHome],
      handshakeTimeout: 10_000,
    });
    this.#server.on('secureConnection', (socket) => {
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
    const { store, registry, audit, logger } = this.#options;
    if (socket.alpnProtocol === alpnCallHome) {
      this.#options.callHome(socket);
      return;
    }
    if (socket.alpnProtocol !== alpnTunnel) {
      socket.destroy();
      return;
    }
    const remote = socket.remoteAddress ?? '';
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
      refuseTunnel(socket, why);
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
      refuseTunnel(socket, why);
      return;
    }
    logger.debug({ stationId, remote }, 'tunnel accepted');
    registry.attach(stationId, socket);
  }

  /** Stops accepting; existing connections stay until closed by their owners. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }
}

/** Tells the agent why over HTTP/2 (GOAWAY with the reason as debug data), then closes. */
function refuseTunnel(socket: TLSSocket, why: string): void {
  const session = h2connect('https://refused', { createConnection: () => socket });
  session.on('error', () => undefined);
  session.once('connect', () => {
    session.goaway(h2.NGHTTP2_INADEQUATE_SECURITY, 0, Buffer.from(why));
    setTimeout(() => session.destroy(), 200).unref();
  });
  setTimeout(() => session.destroy(), 2000).unref();
}
