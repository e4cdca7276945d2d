// The session gate: every stream the hub opens on the tunnel asks for one session. The gate checks
// the ticket (signature, station, expiry, replay), asks the policy, looks up the named service and
// only then opens a socket to the exact address configured for it. Every decision is audited.

import { connect as netConnect, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { constants as h2, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Clock } from '../common/clock.js';
import { LifelineError, errorCodes, type ErrorCode } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { ticketAcceptedUntilMs, type TicketVerifier } from '../pki/index.js';
import { decideAccess, type PolicyState } from '../policy/index.js';
import {
  header,
  isServiceName,
  parseTunnelSessionPath,
  sessionEndMessages,
  sessionProtocol,
  type SessionEndReason,
  type TicketClaims,
} from '../protocol/index.js';
import type { AgentStore } from '../store/index.js';
import type { AuditLog } from './audit-log.js';

export interface ActiveSession {
  id: string;
  technician: string;
  technicianName: string;
  service: string;
  reason: string | null;
  startedAtMs: number;
  bytesIn: number;
  bytesOut: number;
}

export interface SessionGateOptions {
  stationId: string;
  verifier: TicketVerifier;
  store: AgentStore;
  audit: AuditLog;
  policy: () => PolicyState;
  clock: Clock;
  logger: Logger;
  maxConcurrent: number;
  targetConnectTimeoutMs: number;
}

interface LiveSession {
  info: ActiveSession;
  stream: ServerHttp2Stream;
  socket: Socket;
  endReason: SessionEndReason | undefined;
}

export class SessionGate {
  readonly #options: SessionGateOptions;
  readonly #live = new Map<string, LiveSession>();
  #pendingStarts = 0;
  /** Counts stopAll calls, so a session whose start was being written when one came is ended too. */
  #stopGeneration = 0;

  constructor(options: SessionGateOptions) {
    this.#options = options;
  }

  list(): ActiveSession[] {
    return [...this.#live.values()].map((s) => ({ ...s.info }));
  }

  get activeCount(): number {
    return this.#live.size;
  }

  /** Ends one session; the technician is told why. */
  stop(id: string, reason: SessionEndReason): boolean {
    const session = this.#live.get(id);
    if (!session) return false;
    this.#end(session, reason);
    return true;
  }

  /** Ends every session at once; returns how many ended. */
  stopAll(reason: SessionEndReason): number {
    this.#stopGeneration++;
    const sessions = [...this.#live.values()];
    for (const session of sessions) this.#end(session, reason);
    return sessions.length;
  }

  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => {
      // Stream errors surface through 'close'; the session end is recorded there.
    });
    this.#pendingStarts++;
    this.#start(stream, headers)
      .catch((err: unknown) => {
        const error =
          err instanceof LifelineError
            ? err
            : new LifelineError('INTERNAL', 'internal error', { cause: err });
        if (error.code === 'INTERNAL') this.#options.logger.error({ err }, 'session start failed');
        this.#refuse(stream, error.code, error.message);
      })
      .finally(() => {
        this.#pendingStarts--;
      });
  }

  async #start(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    const { clock, store, logger } = this.#options;
    const path = headers[':path'] ?? '';
    const requested = parseTunnelSessionPath(path);
    if (
      headers[':method'] !== 'CONNECT' ||
      headers[':protocol'] !== sessionProtocol ||
      requested === undefined
    ) {
      throw new LifelineError('API_BAD_REQUEST', 'not a session request');
    }
    const ticketText = headers[header.ticket];
    if (typeof ticketText !== 'string') {
      await this.#audit('session.refused', { service: requested, code: 'TICKET_INVALID' });
      throw new LifelineError('TICKET_INVALID', 'the session request carries no service ticket');
    }

    let claims: TicketClaims;
    try {
      claims = await this.#options.verifier.verify(ticketText, this.#options.stationId, clock.now());
      if (claims.svc !== requested) {
        throw new LifelineError('TICKET_WRONG_SERVICE', `the service ticket is for service ${claims.svc}`);
      }
      if (headers[header.sessionId] !== claims.sid) {
        throw new LifelineError('TICKET_INVALID', 'the session id does not match the service ticket');
      }
      if (!(await store.useTicketNonce(claims.jti, ticketAcceptedUntilMs(claims), clock.now()))) {
        throw new LifelineError('TICKET_REPLAYED', 'the service ticket was used before (replay refused)');
      }
    } catch (err) {
      if (err instanceof LifelineError) {
        await this.#audit('session.refused', { service: requested, code: err.code, reason: err.message });
      }
      throw err;
    }

    const who = {
      sessionId: claims.sid,
      technician: claims.sub,
      technicianName: claims.name,
      groups: claims.groups,
    };
    const refuse = async (code: ErrorCode, reason: string): Promise<never> => {
      await this.#audit('session.refused', { ...who, service: requested, code, reason });
      throw new LifelineError(code, reason);
    };

    const decision = decideAccess(this.#options.policy(), {
      technicianId: claims.sub,
      groups: claims.groups,
      service: requested,
      nowMs: clock.now(),
    });
    if (decision.kind === 'deny') return refuse(decision.code, decision.reason);
    if (decision.kind === 'request') {
      return refuse('POLICY_ACCESS_NONE', 'restricted access is not available yet: no technician is allowed');
    }

    if (!isServiceName(requested)) {
      // Addresses in any spelling (2130706433, 0x7f.1, ::ffff:127.0.0.1) and host names end here.
      return refuse(
        'POLICY_TARGET_INVALID',
        `${JSON.stringify(requested)} is not a service name: technicians reach named services of the appliance, never addresses`,
      );
    }
    const service = await store.getService(requested);
    if (!service)
      return refuse(
        'POLICY_SERVICE_UNKNOWN',
        `this appliance has no service named ${JSON.stringify(requested)}`,
      );
    if (headers[header.probe] === '1') {
      await this.#audit('session.check', {
        ...who,
        service: service.name,
        result: 'allowed',
        via: decision.via,
      });
      if (!stream.destroyed) stream.respond({ ':status': 204 }, { endStream: true });
      return;
    }
    if (this.#live.size + this.#pendingStarts > this.#options.maxConcurrent) {
      return refuse('SESSION_LIMIT', `too many sessions at once (limit ${this.#options.maxConcurrent})`);
    }
    if (stream.destroyed) return;

    const socket = await this.#connectTarget(service.host, service.port).catch((err: unknown) =>
      refuse(
        'SESSION_TARGET_UNREACHABLE',
        `service ${service.name} is not reachable: ${(err as Error).message}`,
      ),
    );
    // Policy may have changed while the socket was opening (remote off, stop all): check again.
    const recheck = decideAccess(this.#options.policy(), {
      technicianId: claims.sub,
      groups: claims.groups,
      service: requested,
      nowMs: clock.now(),
    });
    if (recheck.kind !== 'allow' || stream.destroyed) {
      socket.destroy();
      if (recheck.kind === 'deny') return refuse(recheck.code, recheck.reason);
      return;
    }

    const info: ActiveSession = {
      id: claims.sid,
      technician: claims.sub,
      technicianName: claims.name,
      service: service.name,
      reason: claims.reason ?? null,
      startedAtMs: clock.now(),
      bytesIn: 0,
      bytesOut: 0,
    };
    const session: LiveSession = { info, stream, socket, endReason: undefined };
    const stopGeneration = this.#stopGeneration;
    // The session row and its audit entry commit together, before any byte flows.
    await this.#options.audit.record(
      `technician:${claims.sub}`,
      'session.start',
      {
        ...who,
        service: service.name,
        target: `${service.host}:${service.port}`,
        via: decision.via,
        reason: info.reason,
      },
      { sessionStart: { ...info, endedAtMs: null, endReason: null } },
    );
    this.#live.set(info.id, session);
    this.#pipe(session);
    // A stop or a policy change that landed while the start was being written still applies.
    const now = decideAccess(this.#options.policy(), {
      technicianId: claims.sub,
      groups: claims.groups,
      service: requested,
      nowMs: clock.now(),
    });
    if (now.kind === 'deny')
      this.#end(session, now.code === 'POLICY_REMOTE_OFF' ? 'remote-service-off' : 'access-none');
    else if (stopGeneration !== this.#stopGeneration || stream.destroyed)
      this.#end(session, 'stopped-by-admin');
    logger.info(
      { sessionId: info.id, technician: info.technician, service: info.service },
      'session started',
    );
  }

  #pipe(session: LiveSession): void {
    const { stream, socket, info } = session;
    stream.respond({ ':status': 200 }, { waitForTrailers: true });
    stream.on('wantTrailers', () => {
      const reason = session.endReason ?? 'closed';
      stream.sendTrailers({ [header.endReason]: reason, [header.endMessage]: sessionEndMessages[reason] });
    });
    stream.on('data', (chunk: Buffer) => {
      info.bytesIn += chunk.length;
    });
    socket.on('data', (chunk: Buffer) => {
      info.bytesOut += chunk.length;
    });
    stream.pipe(socket);
    socket.pipe(stream);
    socket.on('error', () => {
      session.endReason ??= 'target-error';
      if (!stream.writableEnded) stream.end();
    });
    socket.on('close', () => {
      if (!stream.writableEnded && !stream.destroyed) stream.end();
    });
    stream.on('close', () => {
      // A stream closed because its tunnel died (ping timeout, reset) ended for that reason.
      if (session.endReason === undefined && (!stream.session || stream.session.destroyed)) {
        session.endReason = 'tunnel-lost';
      }
      socket.destroy();
      void this.#finish(session);
    });
  }

  #end(session: LiveSession, reason: SessionEndReason): void {
    session.endReason ??= reason;
    session.socket.unpipe(session.stream);
    session.socket.destroy();
    const { stream } = session;
    if (!stream.writableEnded && !stream.destroyed) stream.end();
    // The technician gets the trailers with the reason; if the hub does not finish the stream
    // promptly, cut it: a stop must take effect within a second.
    setTimeout(() => {
      if (!stream.destroyed) stream.close(h2.NGHTTP2_CANCEL);
    }, 250).unref();
  }

  async #finish(session: LiveSession): Promise<void> {
    if (!this.#live.delete(session.info.id)) return;
    const { info } = session;
    const endedAtMs = this.#options.clock.now();
    const endReason = session.endReason ?? 'closed';
    try {
      await this.#options.store.recordSessionEnd(info.id, {
        endedAtMs,
        endReason,
        bytesIn: info.bytesIn,
        bytesOut: info.bytesOut,
      });
      await this.#audit('session.end', {
        sessionId: info.id,
        technician: info.technician,
        service: info.service,
        endReason,
        durationMs: endedAtMs - info.startedAtMs,
        bytesIn: info.bytesIn,
        bytesOut: info.bytesOut,
      });
    } catch (err) {
      this.#options.logger.error({ err, sessionId: info.id }, 'could not record the end of a session');
    }
  }

  #connectTarget(host: string, port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port, noDelay: true });
      const timer = setTimeout(
        () => socket.destroy(new Error('connect timed out')),
        this.#options.targetConnectTimeoutMs,
      );
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', reject);
        resolve(socket);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  #refuse(stream: ServerHttp2Stream, code: ErrorCode, message: string): void {
    this.#options.logger.info({ code, reason: message }, 'session refused');
    if (stream.destroyed || stream.headersSent) return;
    stream.respond({
      ':status': errorCodes[code],
      'content-type': 'application/json',
      [header.errorCode]: code,
    });
    stream.end(JSON.stringify({ code, message }));
  }

  async #audit(action: string, detail: Record<string, unknown>): Promise<void> {
    const actor = typeof detail.technician === 'string' ? `technician:${detail.technician}` : 'hub';
    await this.#options.audit.record(actor, action, detail);
  }
}

export function newSessionId(): string {
  return randomUUID().replace(/-/g, '');
}
