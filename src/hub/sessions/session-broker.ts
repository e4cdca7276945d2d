// The session broker: a technician's session request (an extended CONNECT stream on the
// technician API) becomes a signed ticket and a stream on the station's tunnel. Bytes are relayed
// between the two streams; the agent's answer and end reason travel back unchanged.

import { randomBytes } from 'node:crypto';
import {
  constants as h2,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Clock } from '../../common/clock.js';
import { answerError } from '../../common/net/index.js';
import { LifelineError, errorCodes, toLifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { TicketSigner } from '../../pki/index.js';
import {
  header,
  parseStationId,
  probeKindOf,
  safeDecodeUriComponent,
  sessionEndMessages,
  sessionProtocol,
  ticketIssuer,
  type ProbeKind,
  type SessionEndReason,
  type TicketClaims,
} from '../../protocol/index.js';
import type { HubStore, UserRecord } from '../store/index.js';
import type { HubAudit } from '../audit/index.js';
import type { TechnicianAuth } from '../technicians/index.js';
import type { TunnelRegistry } from '../stations/index.js';
import type { SessionRequestShares } from './session-request-shares.js';
import { LimitReached, type ShareRefusals } from '../shares/index.js';

export interface SessionBrokerOptions {
  auth: TechnicianAuth;
  registry: TunnelRegistry;
  /**
   * Opens a session stream to the station: on this node's tunnel, or through the node of the
   * cluster that holds it (cluster/station-reach.ts). Answers as the agent does.
   */
  openStation: (
    stationId: string,
    request: { service: string; ticket: string; sessionId: string; probe: ProbeKind | undefined },
  ) => Promise<ClientHttp2Stream>;
  signer: TicketSigner;
  store: HubStore;
  audit: HubAudit;
  clock: Clock;
  logger: Logger;
  ticketTtlMs: number;
  openTimeoutMs: number;
  /** Each user's share of session requests (hub.yaml shares.perUser). */
  shares: SessionRequestShares;
  refusals: ShareRefusals;
}

const connectPath = /^\/v1\/stations\/([^/?#]+)\/connect$/;

interface SessionAsk {
  user: UserRecord;
  amr: TicketClaims['amr'];
  stationId: string;
  service: string;
  reason: string | undefined;
  /** Gives the request's place in the user's share back: the station answered, or it failed. */
  release: () => void;
}

/** The station's answer to a session request made without a session (see SessionBroker.probe). */
export type ProbeAnswer =
  | { admitted: true; stationId: string; service: string }
  | { admitted: false; stationId: string; service: string; code: string; message: string };

export class SessionBroker {
  readonly #options: SessionBrokerOptions;
  /** Relayed sessions, each with its user and a way to end it with a reason the technician sees. */
  readonly #live = new Map<
    ServerHttp2Stream,
    { userName: string; end: (reason: string, message: string) => boolean }
  >();
  #draining = false;

  constructor(options: SessionBrokerOptions) {
    this.#options = options;
  }

  /** True once drain() was called: the node takes no new sessions. */
  get draining(): boolean {
    return this.#draining;
  }

  get activeCount(): number {
    return this.#live.size;
  }

  handle(techStream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    techStream.on('error', () => undefined);
    this.#open(techStream, headers).catch((err: unknown) => {
      const error = toLifelineError(err);
      if (error.code === 'INTERNAL') this.#options.logger.error({ err }, 'session request failed');
      respondError(techStream, error);
    });
  }

  /**
   * The node is draining: new session requests (and console probes) are refused with HUB_DRAINING
   * and `retry-after`; relayed sessions go on.
   */
  drain(): void {
    this.#draining = true;
  }

  /** Ends every relayed session with this reason, sent to its technician; returns how many. */
  endAll(reason: SessionEndReason): number {
    let ended = 0;
    for (const { end } of this.#live.values()) if (end(reason, sessionEndMessages[reason])) ended += 1;
    return ended;
  }

  /** Ends every relayed session (hub shutdown). */
  closeAll(): void {
    for (const stream of this.#live.keys()) stream.close(h2.NGHTTP2_CANCEL);
  }

  /**
   * Ends the sessions of these users (disabled on the hub): the agent's stream is cancelled and the
   * technician gets the end reason 'user-disabled'. Returns the ended sessions per user.
   */
  endUserSessions(userNames: ReadonlySet<string>): Map<string, number> {
    const ended = new Map<string, number>();
    for (const { userName, end } of this.#live.values()) {
      if (!userNames.has(userName) || !end('user-disabled', sessionEndMessages['user-disabled'])) continue;
      ended.set(userName, (ended.get(userName) ?? 0) + 1);
    }
    return ended;
  }

  async #open(techStream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    const { store, audit, clock, logger } = this.#options;
    if (headers[':protocol'] !== sessionProtocol) {
      throw new LifelineError(
        'API_BAD_REQUEST',
        `session requests use extended CONNECT with :protocol ${sessionProtocol}`,
      );
    }
    const url = new URL(headers[':path'] ?? '/', 'https://hub');
    const match = connectPath.exec(url.pathname);
    const service = url.searchParams.get('service') ?? '';
    if (!match?.[1] || service.length === 0 || service.length > 255) {
      throw new LifelineError('API_BAD_REQUEST', 'expected /v1/stations/STATION/connect?service=NAME');
    }
    const reasonHeader = headers[header.reason];
    let reason: string | undefined;
    if (typeof reasonHeader === 'string' && reasonHeader.length > 0) {
      reason = safeDecodeUriComponent(reasonHeader)?.slice(0, 500);
      if (reason === undefined) {
        throw new LifelineError('API_BAD_REQUEST', `${header.reason}: expected URI-encoded text`);
      }
    }
    const asked = await this.#authorize(
      headers.authorization,
      safeDecodeUriComponent(match[1]) ?? match[1],
      service,
      reason,
    );
    const probe = probeKindOf(headers[header.probe]);
    const { agentStream, response, sessionId } = await this.#ask(asked, probe, techStream);
    const { user, stationId } = asked;
    const who = { sessionId, user: user.name, service };
    const status = Number(response[':status']);
    if (status !== 200) {
      const body = await readBody(agentStream);
      const code = typeof response[header.errorCode] === 'string' ? response[header.errorCode] : undefined;
      if (probe === undefined || status !== 204) {
        await audit.record(`user:${user.name}`, 'session.refused', stationId, {
          ...who,
          code: code ?? `HTTP_${status}`,
          by: 'agent',
        });
      }
      if (!techStream.destroyed) {
        techStream.respond({
          ':status': status,
          'content-type': 'application/json',
          ...(code ? { [header.errorCode]: code } : {}),
        });
        techStream.end(body);
      }
      return;
    }

    const startedAtMs = clock.now();
    // The agent has decided and audited; the hub's own records must not delay the session, so they
    // are written once the answer is on its way (the end record waits for the start record).
    // better-sqlite3 writes synchronously: run after this turn, not in its microtasks.
    const started = new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
      store.recordSessionStart(
        {
          id: sessionId,
          stationId,
          userName: user.name,
          service,
          reason: reason ?? null,
          startedAtMs,
          endedAtMs: null,
          endReason: null,
          bytesToStation: 0,
          bytesFromStation: 0,
        },
        audit.entry(`user:${user.name}`, 'session.start', stationId, { ...who, reason }),
      ),
    );
    const recorded = started.catch((err: unknown) =>
      logger.error({ err, sessionId }, 'could not record the start of a session'),
    );
    this.#relay(
      techStream,
      agentStream,
      { stationId, sessionId, userName: user.name },
      startedAtMs,
      recorded,
    );
  }

  /**
   * Asks the station whether this technician would be let in, without a session (the hub console's
   * session request): 'check' records an access request where the policy asks for one, 'wait' only
   * looks. The agent decides and audits, as for a real session.
   */
  async probe(
    authorization: string | undefined,
    station: string,
    service: string,
    reason: string | undefined,
    kind: ProbeKind,
  ): Promise<ProbeAnswer> {
    const asked = await this.#authorize(authorization, station, service, reason?.slice(0, 500));
    const { agentStream, response, sessionId } = await this.#ask(asked, kind, undefined);
    const status = Number(response[':status']);
    const body = await readBody(agentStream);
    if (status === 204 || status === 200) {
      agentStream.close(h2.NGHTTP2_NO_ERROR);
      return { admitted: true, stationId: asked.stationId, service };
    }
    const codeHeader = response[header.errorCode];
    const code = typeof codeHeader === 'string' ? codeHeader : undefined;
    await this.#options.audit.record(`user:${asked.user.name}`, 'session.refused', asked.stationId, {
      sessionId,
      user: asked.user.name,
      service,
      code: code ?? `HTTP_${status}`,
      by: 'agent',
    });
    const { message } = answerError(status, body, 'the appliance');
    return { admitted: false, stationId: asked.stationId, service, code: code ?? `HTTP_${status}`, message };
  }

  /** Who asks for what, checked on the hub's side: login, Station ID, group, an enrolled station. */
  async #authorize(
    authorization: string | undefined,
    station: string,
    service: string,
    reason: string | undefined,
  ): Promise<SessionAsk> {
    const { auth } = this.#options;
    if (this.#draining)
      throw new LifelineError(
        'HUB_DRAINING',
        'this hub node is draining before it stops and takes no new sessions: try again in a moment (another node, or this one once it is back, takes the request)',
      );
    const { user, amr } = await auth.authenticateWithStrength(authorization);
    // The user's share is taken before anything is looked up or audited: a flood of requests,
    // even from a user outside the authorized group, costs the hub no more than its share.
    const release = this.#admit(user.name);
    try {
      const stationId = await this.#checkAsk(user, station, service);
      return { user, amr, stationId, service, reason, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  #admit(userName: string): () => void {
    try {
      return this.#options.shares.admit(userName);
    } catch (err) {
      if (err instanceof LimitReached) this.#options.refusals.refused(err, `user:${userName}`);
      throw err;
    }
  }

  /** Station ID, group and an enrolled station; returns the Station ID. */
  async #checkAsk(user: UserRecord, station: string, service: string): Promise<string> {
    const { auth, registry, store, audit } = this.#options;
    let stationId: string;
    try {
      stationId = parseStationId(station);
    } catch (err) {
      const code = err instanceof LifelineError ? err.code : 'STATION_ID_INVALID';
      await audit.record(`user:${user.name}`, 'session.refused', null, {
        station: station.slice(0, 64),
        service,
        code,
      });
      throw err;
    }
    await auth.requireTechnician(user, stationId, service);
    // A connected tunnel proves an enrolled, unrevoked station (revocation closes tunnels).
    if (!registry.has(stationId)) {
      const station = await store.getStation(stationId);
      if (!station)
        throw new LifelineError('STATION_UNKNOWN', `no station ${stationId} is enrolled with this hub`);
      if (station.revokedAtMs !== null)
        throw new LifelineError('STATION_UNKNOWN', `station ${stationId} is revoked`);
    }
    return stationId;
  }

  /** Signs the ticket and asks the station over its tunnel; resolves with the agent's answer. */
  async #ask(
    asked: SessionAsk,
    probe: ProbeKind | undefined,
    techStream: ServerHttp2Stream | undefined,
  ): Promise<{ agentStream: ClientHttp2Stream; response: IncomingHttpHeaders; sessionId: string }> {
    try {
      return await this.#askStation(asked, probe, techStream);
    } finally {
      asked.release();
    }
  }

  async #askStation(
    asked: SessionAsk,
    probe: ProbeKind | undefined,
    techStream: ServerHttp2Stream | undefined,
  ): Promise<{ agentStream: ClientHttp2Stream; response: IncomingHttpHeaders; sessionId: string }> {
    const { signer, clock } = this.#options;
    const { user, amr, stationId, service, reason } = asked;
    const sessionId = randomBytes(16).toString('hex');
    const iat = Math.floor(clock.now() / 1000);
    const ticket = await signer.sign({
      iss: ticketIssuer,
      aud: stationId,
      sub: user.name,
      name: user.name,
      groups: user.groups,
      svc: service,
      sid: sessionId,
      jti: randomBytes(16).toString('hex'),
      iat,
      exp: iat + Math.floor(this.#options.ticketTtlMs / 1000),
      // How the technician logged in (password, or password and TOTP): the agent may require MFA.
      amr,
      ...(reason !== undefined ? { reason } : {}),
    });
    const agentStream = await this.#options.openStation(stationId, { service, ticket, sessionId, probe });
    agentStream.on('error', () => undefined);
    const response = await waitForResponse(agentStream, techStream, this.#options.openTimeoutMs);
    return { agentStream, response, sessionId };
  }

  #relay(
    techStream: ServerHttp2Stream,
    agentStream: ClientHttp2Stream,
    ids: { stationId: string; sessionId: string; userName: string },
    startedAtMs: number,
    recorded: Promise<void>,
  ): void {
    const { stationId, sessionId, userName } = ids;
    const { logger } = this.#options;
    let bytesToStation = 0;
    let bytesFromStation = 0;
    let endTrailers: Record<string, string> | undefined;
    /** Set when the hub itself ends the session: the agent's answer to the cancel must not replace it. */
    let endedByHub = false;
    /** Ends the session from the hub's side; false if it was ended so before. */
    const end = (reason: string, message: string): boolean => {
      if (endedByHub) return false;
      endedByHub = true;
      endTrailers = { [header.endReason]: reason, [header.endMessage]: message };
      if (!agentStream.destroyed) agentStream.close(h2.NGHTTP2_CANCEL);
      return true;
    };
    this.#live.set(techStream, { userName, end });
    techStream.respond({ ':status': 200, [header.sessionId]: sessionId }, { waitForTrailers: true });
    techStream.on('wantTrailers', () => {
      techStream.sendTrailers(
        endTrailers ?? {
          [header.endReason]: 'tunnel-lost',
          [header.endMessage]: 'the tunnel to the appliance was lost',
        },
      );
    });
    agentStream.on('trailers', (trailers: IncomingHttpHeaders) => {
      const reason = trailers[header.endReason];
      const message = trailers[header.endMessage];
      if (typeof reason === 'string' && !endedByHub)
        endTrailers = {
          [header.endReason]: reason,
          [header.endMessage]: typeof message === 'string' ? message : reason,
        };
    });
    techStream.on('data', (chunk: Buffer) => {
      bytesToStation += chunk.length;
    });
    agentStream.on('data', (chunk: Buffer) => {
      bytesFromStation += chunk.length;
    });
    techStream.pipe(agentStream);
    agentStream.pipe(techStream);
    agentStream.on('close', () => {
      if (!techStream.writableEnded && !techStream.destroyed) techStream.end();
      setTimeout(() => {
        if (!techStream.destroyed) techStream.close(h2.NGHTTP2_CANCEL);
      }, 1000).unref();
    });
    techStream.on('close', () => {
      this.#live.delete(techStream);
      if (!agentStream.destroyed) agentStream.close(h2.NGHTTP2_CANCEL);
      const endReason = endTrailers?.[header.endReason] ?? 'tunnel-lost';
      const end = { endedAtMs: this.#options.clock.now(), endReason, bytesToStation, bytesFromStation };
      recorded
        .then(() =>
          this.#options.store.recordSessionEnd(
            sessionId,
            end,
            this.#options.audit.entry('hub', 'session.end', stationId, {
              sessionId,
              ...end,
              durationMs: end.endedAtMs - startedAtMs,
            }),
          ),
        )
        .catch((err: unknown) => logger.error({ err, sessionId }, 'could not record the end of a session'));
    });
  }
}

function waitForResponse(
  agentStream: ClientHttp2Stream,
  techStream: ServerHttp2Stream | undefined,
  timeoutMs: number,
): Promise<IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      agentStream.close(h2.NGHTTP2_CANCEL);
      reject(new LifelineError('TUNNEL_DOWN', `the appliance did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onTechClose = () => agentStream.close(h2.NGHTTP2_CANCEL);
    techStream?.once('close', onTechClose);
    agentStream.once('response', (headers) => {
      clearTimeout(timer);
      techStream?.removeListener('close', onTechClose);
      resolve(headers);
    });
    agentStream.once('close', () => {
      clearTimeout(timer);
      techStream?.removeListener('close', onTechClose);
      reject(new LifelineError('TUNNEL_LOST', 'the tunnel to the appliance closed before it answered'));
    });
  });
}

function readBody(stream: ClientHttp2Stream): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 16 * 1024) chunks.push(chunk);
    });
    stream.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.once('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** When a technician refused by a draining node should ask again (its load balancer picks a node). */
const drainingRetryAfterSeconds = 1;

function respondError(stream: ServerHttp2Stream, error: LifelineError): void {
  if (stream.destroyed || stream.headersSent) return;
  const retryAfter =
    error instanceof LimitReached
      ? error.retryAfterSeconds
      : error.code === 'HUB_DRAINING'
        ? drainingRetryAfterSeconds
        : undefined;
  stream.respond({
    ':status': errorCodes[error.code],
    'content-type': 'application/json',
    [header.errorCode]: error.code,
    ...(retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) }),
  });
  stream.end(JSON.stringify(error.toJSON()));
}
