// The other end of a link between hub nodes: a session another node asks for, relayed to the
// station's tunnel held here. The agent's answer (status, error code, body) and its end reason
// (trailers) go back unchanged; either side closing ends the other. Only node certificates of
// the cluster CA get here (the station port checks them before it hands the connection over).

import {
  type ClientHttp2Stream,
  createServer as createH2Server,
  constants as h2,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { errorCodes, LifelineError, toLifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { header, parsePeerSessionPath, probeKindOf, safeDecodeUriComponent } from '../../protocol/index.js';
import type { StationSessionRequest } from './peer-links.js';

export interface PeerSessionServerOptions {
  /** Opens the session on a tunnel held by this node (TunnelRegistry.openSession). */
  openLocal: (stationId: string, request: StationSessionRequest) => ClientHttp2Stream;
  logger: Logger;
}

export class PeerSessionServer {
  readonly #server: Http2Server;
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #options: PeerSessionServerOptions;

  constructor(options: PeerSessionServerOptions) {
    this.#options = options;
    this.#server = createH2Server();
    this.#server.on('session', (session) => {
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
      session.on('error', () => undefined);
    });
    this.#server.on('stream', (stream, headers) => this.#relay(stream, headers));
  }

  /** A connection from a peer node, its certificate checked. */
  accept(socket: TLSSocket): void {
    this.#server.emit('connection', socket);
  }

  close(): void {
    for (const session of this.#sessions) session.destroy();
  }

  #relay(peerStream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    peerStream.on('error', () => undefined);
    let request: { stationId: string } & StationSessionRequest;
    let agentStream: ClientHttp2Stream;
    try {
      request = requestOf(headers);
      agentStream = this.#options.openLocal(request.stationId, request);
    } catch (err) {
      const error = toLifelineError(err);
      if (!peerStream.headersSent)
        peerStream.respond({
          ':status': errorCodes[error.code],
          'content-type': 'application/json',
          [header.errorCode]: error.code,
        });
      peerStream.end(JSON.stringify(error.toJSON()));
      return;
    }
    agentStream.on('error', () => undefined);
    let trailers: Record<string, string> | undefined;
    agentStream.once('response', (response) => {
      if (peerStream.destroyed) return;
      const code = response[header.errorCode];
      const contentType = response['content-type'];
      peerStream.respond(
        {
          ':status': Number(response[':status']),
          ...(typeof code === 'string' ? { [header.errorCode]: code } : {}),
          ...(typeof contentType === 'string' ? { 'content-type': contentType } : {}),
          ...(typeof response[header.sessionId] === 'string'
            ? { [header.sessionId]: response[header.sessionId] }
            : {}),
        },
        { waitForTrailers: true },
      );
      peerStream.on('wantTrailers', () => {
        if (trailers) peerStream.sendTrailers(trailers);
        else peerStream.close(h2.NGHTTP2_NO_ERROR);
      });
      agentStream.pipe(peerStream);
    });
    agentStream.on('trailers', (received: IncomingHttpHeaders) => {
      const reason = received[header.endReason];
      const message = received[header.endMessage];
      if (typeof reason === 'string')
        trailers = {
          [header.endReason]: reason,
          [header.endMessage]: typeof message === 'string' ? message : reason,
        };
    });
    peerStream.pipe(agentStream);
    agentStream.once('close', () => {
      if (!peerStream.headersSent && !peerStream.destroyed) {
        // The tunnel closed before the agent answered.
        peerStream.respond({
          ':status': errorCodes.TUNNEL_LOST,
          [header.errorCode]: 'TUNNEL_LOST',
          'content-type': 'application/json',
        });
        peerStream.end(
          JSON.stringify(
            new LifelineError(
              'TUNNEL_LOST',
              'the tunnel to the appliance closed before it answered',
            ).toJSON(),
          ),
        );
        return;
      }
      if (!peerStream.writableEnded && !peerStream.destroyed) peerStream.end();
    });
    peerStream.once('close', () => {
      if (!agentStream.destroyed) agentStream.close(h2.NGHTTP2_CANCEL);
    });
  }
}

function requestOf(headers: IncomingHttpHeaders): { stationId: string } & StationSessionRequest {
  const stationId = parsePeerSessionPath(headers[':path'] ?? '');
  const service = safeDecodeUriComponent(String(headers[header.service] ?? ''));
  const ticket = headers[header.ticket];
  const sessionId = headers[header.sessionId];
  if (
    headers[':method'] !== 'POST' ||
    stationId === undefined ||
    !service ||
    typeof ticket !== 'string' ||
    typeof sessionId !== 'string'
  )
    throw new LifelineError(
      'API_BAD_REQUEST',
      'expected POST /v1/peer/stations/STATION/session with service, ticket and session id',
    );
  return { stationId, service, ticket, sessionId, probe: probeKindOf(headers[header.probe]) };
}
