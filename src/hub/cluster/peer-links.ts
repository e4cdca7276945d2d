// The links from this hub node to the others of its cluster: one long-lived HTTP/2 connection per
// peer node, dialled on the peer's station port with ALPN lifeline-peer/1 and this node's
// certificate, made when a session first needs it and kept while it lives. A session request for
// a station whose tunnel another node holds becomes a stream on that link; the other node relays
// it to the station's tunnel (peer-session-server.ts). The appliance still checks the ticket.

import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { connect as h2connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { LifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { parseHostPort } from '../../common/net/index.js';
import {
  alpnPeer,
  header,
  isStationId,
  peerSessionPath,
  probeHeaderValue,
  stationPortTls,
  type ProbeKind,
} from '../../protocol/index.js';
import type { HubNodeRecord } from '../store/index.js';

export interface PeerCredentials {
  /** This node's certificate and key (node-cert.ts). */
  keyPem: string;
  certPem: string;
  /** The cluster CAs a peer's certificate may come from. */
  caPem: string;
}

export interface StationSessionRequest {
  service: string;
  ticket: string;
  sessionId: string;
  probe: ProbeKind | undefined;
}

export interface PeerLinksOptions {
  credentials: () => PeerCredentials;
  logger: Logger;
  /** Longest wait for a peer's TLS and HTTP/2 handshake. */
  connectTimeoutMs?: number;
}

/** A peer answers as a hub node does: its certificate is from the cluster CA and names no station. */
function checkPeerIdentity(_host: string, cert: PeerCertificate): Error | undefined {
  const cn = cert.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (typeof name !== 'string' || isStationId(name))
    return new Error(`the peer's certificate (${String(name)}) is not a hub node's`);
  return undefined;
}

/** A link is pinged this often; one not answered within pingTimeoutMs is closed (its peer is gone). */
const pingIntervalMs = 10_000;
const pingTimeoutMs = 20_000;

/**
 * Pings the peer: a peer that died without closing its connection (power, network) would
 * otherwise keep the link, and the sessions on it, open until TCP gives up.
 */
function keepAlive(session: ClientHttp2Session, nodeName: string, logger: Logger): void {
  let waiting = false;
  let sentAt = 0;
  const timer = setInterval(() => {
    if (waiting) {
      if (performance.now() - sentAt > pingTimeoutMs) {
        logger.warn({ node: nodeName }, 'the link to a hub node stopped answering; closing it');
        session.destroy();
      }
      return;
    }
    waiting = true;
    sentAt = performance.now();
    const sent = session.ping(() => {
      waiting = false;
    });
    if (!sent) waiting = false;
  }, pingIntervalMs).unref();
  session.once('close', () => clearInterval(timer));
}

export class PeerLinks {
  readonly #options: PeerLinksOptions;
  readonly #links = new Map<string, Promise<ClientHttp2Session>>();
  #closed = false;

  constructor(options: PeerLinksOptions) {
    this.#options = options;
  }

  /** A session stream to the node holding the station's tunnel; its answer is the agent's. */
  async openSession(
    node: HubNodeRecord,
    stationId: string,
    request: StationSessionRequest,
  ): Promise<ClientHttp2Stream> {
    const link = await this.#link(node);
    return link.request(
      {
        ':method': 'POST',
        ':path': peerSessionPath(stationId),
        [header.service]: encodeURIComponent(request.service),
        [header.ticket]: request.ticket,
        [header.sessionId]: request.sessionId,
        ...(request.probe ? { [header.probe]: probeHeaderValue(request.probe) } : {}),
      },
      { endStream: false },
    );
  }

  /** Closes every link; their streams end (their sessions end as if the tunnel were lost). */
  close(): void {
    this.#closed = true;
    for (const link of this.#links.values())
      void link.then(
        (session) => session.destroy(),
        () => undefined,
      );
    this.#links.clear();
  }

  #link(node: HubNodeRecord): Promise<ClientHttp2Session> {
    if (this.#closed) return Promise.reject(new LifelineError('HUB_DRAINING', 'this hub node is stopping'));
    const key = `${node.id} ${node.stationAddress}`;
    let link = this.#links.get(key);
    if (!link) {
      link = this.#dial(node).catch((err: unknown) => {
        this.#links.delete(key);
        throw err;
      });
      this.#links.set(key, link);
      void link.then(
        (session) =>
          session.once('close', () => {
            if (this.#links.get(key) === link) this.#links.delete(key);
          }),
        () => undefined,
      );
    }
    return link;
  }

  #dial(node: HubNodeRecord): Promise<ClientHttp2Session> {
    const { credentials, logger } = this.#options;
    const address = parseHostPort(node.stationAddress, `the address of hub node ${node.name}`);
    const { keyPem, certPem, caPem } = credentials();
    const timeoutMs = this.#options.connectTimeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const session = h2connect(`https://${node.stationAddress}`, {
        createConnection: () =>
          tlsConnect({
            host: address.host,
            port: address.port,
            ALPNProtocols: [alpnPeer],
            key: keyPem,
            cert: certPem,
            ca: caPem,
            ...stationPortTls,
            checkServerIdentity: checkPeerIdentity,
          }),
      });
      const timer = setTimeout(() => {
        session.destroy();
        reject(
          new LifelineError(
            'TUNNEL_DOWN',
            `hub node ${node.name} (${node.stationAddress}) did not answer within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      session.once('connect', () => {
        clearTimeout(timer);
        keepAlive(session, node.name, logger);
        session.removeAllListeners('error');
        session.on('error', (err) => logger.warn({ err, node: node.name }, 'the link to a hub node failed'));
        logger.info({ node: node.name, address: node.stationAddress }, 'linked to hub node');
        resolve(session);
      });
      session.once('error', (err: Error) => {
        clearTimeout(timer);
        session.destroy();
        reject(
          new LifelineError(
            'TUNNEL_DOWN',
            `cannot reach hub node ${node.name} (${node.stationAddress}), which holds the station's tunnel: ${err.message}`,
            {
              cause: err,
            },
          ),
        );
      });
    });
  }
}
