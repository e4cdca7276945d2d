// The session gate: every stream the hub opens on the tunnel asks for one session. The gate checks
// the ticket (signature, station, expiry, replay), asks the policy (with the ACL rules and the
// one-time grant), looks up the named service and only then opens a socket to the exact address
// configured for it. Every decision is audited (under a flood, refusals past a few per interval in
// one summary entry: refusal-audit.ts). Running sessions are re-checked whenever policy changes
// and once a second, for rule expiry and the duration and inactivity limits.

import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Clock } from '../../common/clock.js';
import { LifelineError, errorCodes, type ErrorCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { ticketAcceptedUntilMs, type TicketVerifier } from '../../pki/index.js';
import { decide, mayContinue, type AllowVia, type PolicyState } from '../../policy/index.js';
import {
  header,
  isServiceName,
  parseTunnelSessionPath,
  probeKindOf,
  sessionProtocol,
  type SessionEndReason,
  type TicketClaims,
} from '../../protocol/index.js';
import type { AgentStore } from '../store/index.js';
import type { PolicyStore } from './policy-store.js';
import type { AuditLog } from '../audit/index.js';
import { LiveSession, connectTarget, endReasonFor, type ActiveSession } from './live-session.js';
import { RefusalAudit, type Timers } from './refusal-audit.js';
import { formatDurationMs } from '../../common/config/index.js';

export type { ActiveSession };

/** The agent setting (agent.db) that requires MFA for every session; absent means optional. */
export const mfaSettingKey = 'mfa_required';

/** Whether the appliance requires MFA for every session (the setting is written by PolicyControl). */
export async function mfaRequired(store: AgentStore): Promise<boolean> {
  return (await store.getSetting(mfaSettingKey)) === true;
}

const mfaRefusal =
  'this appliance requires MFA for every session: log in again with a TOTP code (lifeline login --hub URL --user NAME --password-stdin --totp CODE)';

export type GateEvent =
  | { type: 'access-request.created'; data: Record<string, unknown> }
  | { type: 'session.started'; data: Record<string, unknown> }
  | { type: 'session.ended'; data: Record<string, unknown> };

export interface SessionGateOptions {
  stationId: string;
  verifier: TicketVerifier;
  store: AgentStore;
  /** The ACL rules, access requests, one-time grant and refusal counts (the one instance: it caches). */
  policyStore: PolicyStore;
  audit: AuditLog;
  policy: () => PolicyState;
  clock: Clock;
  logger: Logger;
  maxConcurrent: number;
  targetConnectTimeoutMs: number;
  maxDurationMs: number;
  idleTimeoutMs: number;
  requestTtlMs: number;
  /** A technician's attempts and audited refusals per interval (agent.yaml sessions). */
  flood: { intervalMs: number; maxAttemptsPerTechnician: number; refusalsAuditedPerTechnician: number };
  /** Pending access requests kept at once (agent.yaml requests.maxPending). */
  maxPendingRequests: number;
  onEvent?: (event: GateEvent) => void;
  /** An attempt was refused by one of the bounds above (for /metrics). */
  onLimitRefused?: (limit: GateLimit) => void;
  /** For tests: the timers the refusal summaries are written by. */
  timers?: Timers;
}

/** The bounds the gate refuses with API_LIMIT_REACHED, as /metrics labels them. */
export type GateLimit = 'session-attempts' | 'access-requests';

class Refusal extends LifelineError {
  readonly requestId: string | undefined;

  constructor(code: ErrorCode, message: string, requestId?: string) {
    super(code, message);
    this.requestId = requestId;
  }
}

export class SessionGate {
  readonly #options: SessionGateOptions;
  readonly #live = new Map<string, LiveSession>();
  /** How each live session's technician logged in (the ticket's amr), for the MFA re-check. */
  readonly #amrOf = new Map<string, readonly string[]>();
  #pendingStarts = 0;
  /** Counts stopAll calls, so a session whose start was being written when one came is ended too. */
  #stopGeneration = 0;
  #sweepTimer: NodeJS.Timeout | undefined;
  /** Session starts under way and running sessions, each settled once its end is written. */
  readonly #work = new Set<Promise<void>>();
  #closing: Promise<void> | undefined;
  /** What a flood of attempts may cost: attempts refused at once past a bound, refusals summarised. */
  readonly #refusals: RefusalAudit;

  constructor(options: SessionGateOptions) {
    this.#options = options;
    this.#refusals = new RefusalAudit({
      limits: {
        intervalMs: options.flood.intervalMs,
        maxAttempts: options.flood.maxAttemptsPerTechnician,
        auditedRefusals: options.flood.refusalsAuditedPerTechnician,
      },
      clock: options.clock,
      logger: options.logger,
      write: (actor, summary) => options.audit.record(actor, 'session.refused-summary', { ...summary }),
      ...(options.timers ? { timers: options.timers } : {}),
    });
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
    session.end(reason);
    return true;
  }

  /** Ends every session at once; returns how many ended. */
  stopAll(reason: SessionEndReason): number {
    this.#stopGeneration++;
    const sessions = [...this.#live.values()];
    for (const session of sessions) session.end(reason);
    return sessions.length;
  }

  /** Re-checks every running session against the policy in force; ends those no longer allowed. */
  async reevaluate(): Promise<void> {
    if (this.#live.size === 0) return;
    const { clock, options } = { clock: this.#options.clock, options: this.#options };
    const rules = await options.policyStore.listRules();
    const requireMfa = await mfaRequired(options.store);
    const nowMs = clock.now();
    for (const session of this.#live.values()) {
      const info = session.info;
      if (requireMfa && !this.#amrOf.get(info.id)?.includes('otp')) {
        session.end('mfa-required');
        continue;
      }
      if (nowMs - info.startedAtMs >= options.maxDurationMs) {
        session.end('max-duration');
        continue;
      }
      if (nowMs - info.lastActivityMs >= options.idleTimeoutMs) {
        session.end('idle-timeout');
        continue;
      }
      const verdict = mayContinue(
        {
          policy: options.policy(),
          rules,
          attempt: { technicianId: info.technician, groups: info.groups, service: info.service, nowMs },
        },
        info.via,
      );
      if (!verdict.ok) session.end(endReasonFor(verdict.code));
    }
  }

  /** Starts the once-a-second re-check (rule expiry, duration and inactivity limits). */
  startSweeping(): void {
    let ticks = 0;
    this.#sweepTimer ??= setInterval(() => {
      this.reevaluate().catch((err: unknown) =>
        this.#options.logger.error({ err }, 'session re-check failed'),
      );
      if (++ticks % 60 === 0) {
        this.#options.store
          .purgeTicketNonces(this.#options.clock.now())
          .catch((err: unknown) => this.#options.logger.error({ err }, 'purging used ticket nonces failed'));
      }
    }, 1000);
    this.#sweepTimer.unref();
  }

  /**
   * Shutdown: the re-check stops, every session ends now (`agent-shutdown`; one whose start is being
   * written ends as soon as it has started), and this resolves once every session's end is written
   * with its audit entry, and the refusal summaries under way too. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.stopAll('agent-shutdown');
    // A start under way may add a session (ended at once, see #start): wait for that one too.
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
    await this.#refusals.flush();
  }

  /** Keeps `work` in #work until it settles, so close() can wait for it. */
  #track(work: Promise<void>): void {
    this.#work.add(work);
    const settled = (): void => void this.#work.delete(work);
    work.then(settled, settled);
  }

  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => {
      // Stream errors surface through 'close'; the session end is recorded there.
    });
    this.#pendingStarts++;
    const starting = this.#start(stream, headers)
      .catch((err: unknown) => {
        const error =
          err instanceof LifelineError
            ? err
            : new LifelineError('INTERNAL', 'internal error', { cause: err });
        if (error.code === 'INTERNAL') this.#options.logger.error({ err }, 'session start failed');
        this.#refuse(stream, error.code, error.message, err instanceof Refusal ? err.requestId : undefined);
      })
      .finally(() => {
        this.#pendingStarts--;
      });
    this.#track(starting);
  }

  async #verifyTicket(headers: IncomingHttpHeaders, requested: string): Promise<TicketClaims> {
    const { clock, store, verifier, stationId } = this.#options;
    const ticketText = headers[header.ticket];
    try {
      if (typeof ticketText !== 'string') {
        throw new LifelineError('TICKET_INVALID', 'the session request carries no service ticket');
      }
      const claims = await verifier.verify(ticketText, stationId, clock.now());
      if (claims.svc !== requested) {
        throw new LifelineError('TICKET_WRONG_SERVICE', `the service ticket is for service ${claims.svc}`);
      }
      if (headers[header.sessionId] !== claims.sid) {
        throw new LifelineError('TICKET_INVALID', 'the session id does not match the service ticket');
      }
      // Only a read here: the nonce is written with the decision's audit entry, in one commit.
      if (await store.isTicketNonceUsed(claims.jti)) {
        throw new LifelineError('TICKET_REPLAYED', 'the service ticket was used before (replay refused)');
      }
      return claims;
    } catch (err) {
      if (err instanceof LifelineError) {
        // Before the ticket verified, the hub is the one asking: its refusals are bounded alike.
        if (this.#refusals.auditOnItsOwn('hub')) {
          await this.#options.audit.record('hub', 'session.refused', {
            service: requested,
            code: err.code,
            reason: err.message,
          });
        } else this.#refusals.summarise('hub', err.code);
      }
      throw err;
    }
  }

  async #start(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    const { clock, store, policyStore, logger, audit } = this.#options;
    if (!audit.healthy) {
      // Fail closed: while the audit log cannot be written, no session starts. A write that works
      // again ends the outage (and is itself recorded).
      await audit.record('agent', 'audit.resumed', {}).catch((err: unknown) => {
        const full = err instanceof LifelineError && err.code === 'STORE_FULL';
        throw new LifelineError(
          full ? 'STORE_FULL' : 'STORE_FAILED',
          `the appliance cannot write its audit log, so no session may start${full ? ': its disk is full' : ''}`,
        );
      });
    }
    const requested = parseTunnelSessionPath(headers[':path'] ?? '');
    if (
      headers[':method'] !== 'CONNECT' ||
      headers[':protocol'] !== sessionProtocol ||
      requested === undefined
    ) {
      throw new LifelineError('API_BAD_REQUEST', 'not a session request');
    }
    const claims = await this.#verifyTicket(headers, requested);
    const actor = `technician:${claims.sub}`;
    const who = {
      sessionId: claims.sid,
      technician: claims.sub,
      technicianName: claims.name,
      groups: claims.groups,
      // How the technician logged in on the hub: ['pwd'] or ['pwd', 'otp'].
      amr: claims.amr,
    };
    const nonce = { jti: claims.jti, expiresAtMs: ticketAcceptedUntilMs(claims) };
    const refuse = async (code: ErrorCode, reason: string, requestId?: string): Promise<never> => {
      const detail = { ...who, service: requested, code, reason, requestId };
      if (this.#refusals.auditOnItsOwn(actor)) {
        try {
          // A replayed ticket's nonce is already stored: its refusal is written without it.
          await audit.record(actor, 'session.refused', detail, code === 'TICKET_REPLAYED' ? {} : { nonce });
        } catch (err) {
          // The same ticket arrived twice at once: the other one used it; this one is a replay.
          if (!(err instanceof LifelineError) || err.code !== 'TICKET_REPLAYED') throw err;
          return refuse(err.code, err.message);
        }
      } else {
        // Counted into the interval's summary, without an entry of its own; its nonce is stored
        // all the same, so that its ticket is never accepted later, after a restart too.
        if (code !== 'TICKET_REPLAYED' && !(await store.useTicketNonce(nonce.jti, nonce.expiresAtMs)))
          return refuse('TICKET_REPLAYED', 'the service ticket was used before (replay refused)');
        this.#refusals.summarise(actor, code);
      }
      await policyStore.countRefusal(claims.sub, code, clock.now());
      throw new Refusal(code, reason, requestId);
    };
    const { flood } = this.#options;
    const waitMs = this.#refusals.attempt(actor);
    if (waitMs !== undefined) {
      this.#options.onLimitRefused?.('session-attempts');
      return refuse(
        'API_LIMIT_REACHED',
        `technician ${claims.sub} made more session attempts than one technician may (agent.yaml sessions.maxAttemptsPerTechnician: ${flood.maxAttemptsPerTechnician} per ${formatDurationMs(flood.intervalMs)}): try again in ${Math.max(1, Math.ceil(waitMs / 1000))} s`,
      );
    }
    const attempt = {
      technicianId: claims.sub,
      groups: claims.groups,
      service: requested,
      nowMs: clock.now(),
    };
    // MFA is checked before the policy: a password-only login never creates an access request.
    if (!claims.amr.includes('otp') && (await mfaRequired(store))) {
      return refuse('SESSION_MFA_REQUIRED', mfaRefusal);
    }
    const [rules, grant] = await Promise.all([policyStore.listRules(), policyStore.currentGrant()]);
    let decision = decide({
      policy: this.#options.policy(),
      rules,
      grant: grant ?? null,
      ticket: { ok: true },
      attempt,
    });
    if (decision.kind === 'deny') return refuse(decision.code, decision.reason);

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

    const probe = probeKindOf(headers[header.probe]);
    if (decision.kind === 'allow' && decision.via === 'one-time-grant' && !probe) {
      if (!(await policyStore.useGrant(decision.grantId, claims.sid, clock.now()))) {
        decision = { kind: 'request' };
      } else {
        await audit.record(actor, 'grant.used', { ...who, grantId: decision.grantId, service: requested });
      }
    }
    if (decision.kind === 'request')
      return this.#requestApproval(claims, requested, refuse, probe === 'wait', nonce);

    const via: AllowVia = decision;
    if (probe) {
      await audit
        .record(
          actor,
          'session.check',
          { ...who, service: service.name, result: 'allowed', ...viaDetail(via) },
          { nonce },
        )
        .catch((err: unknown) => {
          if (err instanceof LifelineError && err.code === 'TICKET_REPLAYED')
            return refuse(err.code, err.message);
          throw err;
        });
      if (!stream.destroyed) stream.respond({ ':status': 204 }, { endStream: true });
      return;
    }
    if (this.#live.size + this.#pendingStarts > this.#options.maxConcurrent) {
      return refuse('SESSION_LIMIT', `too many sessions at once (limit ${this.#options.maxConcurrent})`);
    }
    if (stream.destroyed) return;

    const socket = await connectTarget(
      service.host,
      service.port,
      this.#options.targetConnectTimeoutMs,
    ).catch((err: unknown) =>
      refuse(
        'SESSION_TARGET_UNREACHABLE',
        `service ${service.name} is not reachable: ${(err as Error).message}`,
      ),
    );
    const startedAtMs = clock.now();
    const info: ActiveSession = {
      id: claims.sid,
      technician: claims.sub,
      technicianName: claims.name,
      groups: claims.groups,
      service: service.name,
      reason: claims.reason ?? null,
      startedAtMs,
      lastActivityMs: startedAtMs,
      bytesIn: 0,
      bytesOut: 0,
      via,
    };
    const session = new LiveSession(info, stream, socket);
    const stopGeneration = this.#stopGeneration;
    // The session row and its audit entry commit together, before any byte flows; if they cannot
    // be written, the session does not start.
    try {
      await audit.record(
        actor,
        'session.start',
        {
          ...who,
          service: service.name,
          target: `${service.host}:${service.port}`,
          ...viaDetail(via),
          reason: info.reason,
        },
        { sessionStart: { ...info, endedAtMs: null, endReason: null }, nonce },
      );
    } catch (err) {
      socket.destroy();
      if (err instanceof LifelineError && err.code === 'TICKET_REPLAYED')
        return refuse(err.code, err.message);
      throw err;
    }
    this.#live.set(info.id, session);
    this.#amrOf.set(info.id, claims.amr);
    this.#track(
      new Promise((ended) => {
        session.start(
          () => clock.now(),
          () => void this.#finish(session).finally(ended),
        );
      }),
    );
    // A stop or a policy change that landed while the start was being written still applies.
    const verdict = mayContinue(
      {
        policy: this.#options.policy(),
        rules: await policyStore.listRules(),
        attempt: { ...attempt, nowMs: clock.now() },
      },
      via,
    );
    if (!verdict.ok) session.end(endReasonFor(verdict.code));
    else if (!claims.amr.includes('otp') && (await mfaRequired(store))) session.end('mfa-required');
    else if (this.#closing) session.end('agent-shutdown');
    else if (stopGeneration !== this.#stopGeneration || stream.destroyed) session.end('stopped-by-admin');
    logger.info(
      { sessionId: info.id, technician: info.technician, service: info.service },
      'session started',
    );
    this.#options.onEvent?.({
      type: 'session.started',
      data: { ...who, service: service.name, ...viaDetail(via) },
    });
  }

  async #requestApproval(
    claims: TicketClaims,
    service: string,
    refuse: (code: ErrorCode, reason: string, requestId?: string) => Promise<never>,
    polling: boolean,
    nonce: { jti: string; expiresAtMs: number },
  ): Promise<never> {
    const { store, policyStore, audit, clock, maxPendingRequests } = this.#options;
    const recorded = await policyStore.recordRequestAttempt({
      technician: claims.sub,
      technicianName: claims.name,
      groups: claims.groups,
      service,
      reason: claims.reason ?? null,
      nowMs: clock.now(),
      pendingTtlMs: this.#options.requestTtlMs,
      countAttempt: !polling,
      maxPending: maxPendingRequests,
    });
    if (!recorded.request) {
      this.#options.onLimitRefused?.('access-requests');
      return refuse(
        'API_LIMIT_REACHED',
        `the appliance holds ${recorded.pending} pending access requests, as many as it keeps (agent.yaml requests.maxPending): its administrator must accept or reject some before another can be made`,
      );
    }
    const { request, created } = recorded;
    const detail = {
      requestId: request.id,
      technician: request.technician,
      technicianName: request.technicianName,
      groups: request.groups,
      service,
      reason: request.reason,
      attempts: request.attempts,
    };
    if (request.status === 'rejected') {
      return refuse(
        'POLICY_REQUEST_REJECTED',
        `access request ${request.id} was rejected by the appliance administrator` +
          (request.note ? `: ${request.note}` : ''),
        request.id,
      );
    }
    if (created) {
      await audit.record(`technician:${claims.sub}`, 'access-request.created', detail);
      this.#options.onEvent?.({ type: 'access-request.created', data: detail });
    }
    const pendingMessage = `pending approval: access request ${request.id} waits for the appliance administrator`;
    if (polling && !created) {
      // A technician waiting on the request: nothing changed, so nothing new to audit.
      if (!(await store.useTicketNonce(nonce.jti, nonce.expiresAtMs))) {
        throw new Refusal('TICKET_REPLAYED', 'the service ticket was used before (replay refused)');
      }
      throw new Refusal('POLICY_PENDING_APPROVAL', pendingMessage, request.id);
    }
    return refuse('POLICY_PENDING_APPROVAL', pendingMessage, request.id);
  }

  async #finish(session: LiveSession): Promise<void> {
    if (!this.#live.delete(session.info.id)) return;
    this.#amrOf.delete(session.info.id);
    const { info } = session;
    const endedAtMs = this.#options.clock.now();
    const endReason = session.endReason ?? 'closed';
    const detail = {
      sessionId: info.id,
      technician: info.technician,
      service: info.service,
      endReason,
      durationMs: endedAtMs - info.startedAtMs,
      bytesIn: info.bytesIn,
      bytesOut: info.bytesOut,
    };
    try {
      // The session row's end and its audit entry commit together.
      await this.#options.audit.record(`technician:${info.technician}`, 'session.end', detail, {
        sessionEnd: { id: info.id, endedAtMs, endReason, bytesIn: info.bytesIn, bytesOut: info.bytesOut },
      });
    } catch (err) {
      this.#options.logger.error({ err, sessionId: info.id }, 'could not record the end of a session');
    }
    this.#options.onEvent?.({ type: 'session.ended', data: detail });
  }

  #refuse(stream: ServerHttp2Stream, code: ErrorCode, message: string, requestId: string | undefined): void {
    this.#options.logger.info({ code, reason: message, requestId }, 'session refused');
    if (stream.destroyed || stream.headersSent) return;
    stream.respond({
      ':status': errorCodes[code],
      'content-type': 'application/json',
      [header.errorCode]: code,
    });
    stream.end(JSON.stringify({ code, message, ...(requestId ? { requestId } : {}) }));
  }
}

function viaDetail(via: AllowVia): Record<string, string> {
  switch (via.via) {
    case 'full-access':
      return { via: via.via };
    case 'acl-rule':
      return { via: via.via, ruleId: via.ruleId };
    case 'one-time-grant':
      return { via: via.via, grantId: via.grantId };
  }
}
