// Dials the hub: the endpoints of agent.yaml in order of preference, each directly or through the
// customer's HTTP proxy, to a mutual-TLS socket with the channel's ALPN. One dial round starts with
// the endpoint in use and goes on to the others at once when one fails, or beside it when it has
// not connected within `failoverAfterMs` (an endpoint that swallows packets would otherwise cost the
// whole connect timeout); the first handshake to complete wins and the others are dropped. The
// caller backs off only after a whole round failed. While the agent works on a less preferred endpoint, the dialer probes
// the more preferred ones every `failbackIntervalMs` and, when one answers, makes it the endpoint in
// use again and says so ('failback'): each channel moves back when it can without harm.
// It also keeps what status shows about each endpoint and the proxy. An endpoint whose hub node
// said it is draining is avoided for a while: dial rounds start at the next endpoint and try it
// last, and probes leave it alone.

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { systemClock, type Clock } from '../../common/clock.js';
import { LifelineError, toLifelineError, type ErrorCode } from '../../common/errors.js';
import { parseHostPort, type HostPort } from '../../common/net/index.js';
import { alpnCallHome } from '../../protocol/index.js';
import { agentPaths, loadAgentConfig } from '../config.js';
import { describeProxy, proxyFor, resolveProxy, type ProxySettings } from './proxy-config.js';
import { connectThroughProxy } from './proxy-connect.js';
import { isUnknownHubIssuer, linkCodeOf } from './link-errors.js';

/**
 * in-use: the endpoint the channels use now; failed: its last attempt failed; untried: never dialled;
 * standby: reachable at its last attempt, but another one is in use.
 */
/** What the agent dials the hub with: the station's key and certificate, and the pinned hub CAs. */
export interface TlsCredentials {
  /** The pinned hub CA certificates (one, or two during a CA rotation's overlap). */
  caPem: string;
  certPem: string;
  keyPem: string;
}

export type EndpointState = 'in-use' | 'failed' | 'untried' | 'standby';

export interface EndpointStatus {
  endpoint: string;
  state: EndpointState;
  /** Through the proxy, or directly (no proxy, or NO_PROXY names it). */
  via: 'proxy' | 'direct';
  lastError: string | null;
  /** The code of lastError: LINK_* (socket, TLS, timeout) or PROXY_*. */
  lastErrorCode: ErrorCode | null;
  /** When the endpoint entered its state (its last success or first failure in a row). */
  sinceMs: number | null;
}

export interface ProxyStatus {
  /** http://HOST:PORT, never with the password. */
  url: string;
  source: ProxySettings['source'];
  username: string | null;
  /** The proxy's last failure (unreachable, 407, CONNECT refused), cleared by a tunnel through it. */
  lastError: string | null;
  lastErrorCode: string | null;
  lastErrorAtMs: number | null;
}

export interface HubDialerOptions {
  endpoints: readonly string[];
  serverName: string | undefined;
  /** Asked at every dial, so renewed credentials are used from the next connection on. */
  credentials: () => TlsCredentials;
  /** None: every endpoint is dialled directly. */
  proxy?: ProxySettings | undefined;
  /** TCP (or the proxy's CONNECT) plus the TLS handshake, per endpoint; default 10 s. */
  connectTimeoutMs?: number;
  /** An endpoint not connected within this long has the next one dialled beside it; default 2 s. */
  failoverAfterMs?: number;
  /** How often the more preferred endpoints are probed while a less preferred one is in use; default 30 s. */
  failbackIntervalMs?: number;
  clock?: Clock;
}

/** How long an endpoint whose hub node drains is avoided: by then its node is gone, or back. */
export const drainingAvoidMs = 60_000;

export interface DialedHub {
  socket: TLSSocket;
  endpoint: string;
  index: number;
}

interface EndpointRecord {
  endpoint: string;
  address: HostPort;
  proxy: ProxySettings | undefined;
  ok: boolean | undefined;
  lastError: LifelineError | null;
  sinceMs: number | null;
}

type DialerSettings = Required<Omit<HubDialerOptions, 'proxy'>> & Pick<HubDialerOptions, 'proxy'>;

export class HubDialer extends EventEmitter<{ failback: [DialedHubEndpoint] }> {
  readonly #options: DialerSettings;
  readonly #endpoints: EndpointRecord[];
  #current = 0;
  /** Endpoints whose hub node is draining, with when to stop avoiding them. */
  readonly #avoidUntilMs = new Map<number, number>();
  #probeTimer: NodeJS.Timeout | undefined;
  #probing = false;
  #closed = false;
  #proxyError: { message: string; code: string; atMs: number } | null = null;

  constructor(options: HubDialerOptions) {
    super();
    if (options.endpoints.length === 0)
      throw new LifelineError('CONFIG_INVALID', 'hub.endpoints: expected at least one HOST:PORT');
    this.#options = {
      ...options,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      failoverAfterMs: options.failoverAfterMs ?? 2000,
      failbackIntervalMs: options.failbackIntervalMs ?? 30_000,
      clock: options.clock ?? systemClock,
    };
    this.#endpoints = options.endpoints.map((endpoint) => {
      const address = parseHostPort(endpoint, 'hub.endpoints');
      return {
        endpoint,
        address,
        proxy: proxyFor(options.proxy, address.host),
        ok: undefined,
        lastError: null,
        sinceMs: null,
      };
    });
  }

  /** The endpoint the channels use now (the first that worked in the last round). */
  get current(): DialedHubEndpoint {
    return this.#describe(this.#current);
  }

  /**
   * One dial round: the endpoint in use, then the others in order of preference, each at once after
   * the one before failed or `failoverAfterMs` after it started; the first to connect is used.
   * Rejects with the last endpoint's error (with every endpoint's reason in the message) when none
   * worked.
   */
  async dial(alpn: string, signal?: AbortSignal): Promise<DialedHub> {
    signal?.throwIfAborted();
    const order = dialOrder(this.#endpoints.length, this.#current, this.#avoided());
    const failures: string[] = [];
    let lastError = new Error('no hub endpoint was dialled');
    // Aborts the attempts still running once one has won (or the caller gave up).
    const round = new AbortController();
    const onAbort = () => round.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await new Promise<DialedHub>((resolve, reject) => {
        let next = 0;
        let running = 0;
        let settled = false;
        let stagger: NodeJS.Timeout | undefined;
        const settle = (outcome: () => void) => {
          settled = true;
          clearTimeout(stagger);
          round.abort(new Error('another hub endpoint connected first'));
          outcome();
        };
        const startNext = () => {
          clearTimeout(stagger);
          if (settled) return;
          const index = order[next];
          if (index === undefined) {
            if (running > 0) return;
            settle(() => {
              if (this.#endpoints.length === 1) reject(lastError);
              else
                reject(
                  new LifelineError(
                    lastError instanceof LifelineError ? lastError.code : 'API_UNREACHABLE',
                    `no hub endpoint worked: ${failures.join('; ')}`,
                    { cause: lastError },
                  ),
                );
            });
            return;
          }
          next += 1;
          running += 1;
          this.#attempt(index, alpn, round.signal).then(
            (socket) => {
              running -= 1;
              if (settled) {
                socket.destroy();
                return;
              }
              settle(() => {
                if (index !== this.#current) {
                  this.#current = index;
                  this.#scheduleProbe();
                }
                resolve({ socket, endpoint: this.#endpoints[index]?.endpoint ?? '', index });
              });
            },
            (err: unknown) => {
              running -= 1;
              if (settled) return;
              const error = err instanceof Error ? err : toLifelineError(err);
              if (signal?.aborted) {
                settle(() => reject(error));
                return;
              }
              lastError = error;
              failures.push(`${this.#endpoints[index]?.endpoint ?? '?'}: ${error.message}`);
              startNext();
            },
          );
          if (next < order.length) stagger = setTimeout(startNext, this.#options.failoverAfterMs);
        };
        startNext();
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The hub node at this endpoint is draining: for `forMs`, dial rounds start at the next endpoint
   * and try this one last, and probes skip it. True when another endpoint is there to go to.
   */
  avoid(index: number, forMs: number): boolean {
    if (index < 0 || index >= this.#endpoints.length) return false;
    this.#avoidUntilMs.set(index, this.#options.clock.now() + forMs);
    return this.#avoided().size < this.#endpoints.length;
  }

  /** The endpoints avoided now. */
  #avoided(): Set<number> {
    const nowMs = this.#options.clock.now();
    for (const [index, untilMs] of this.#avoidUntilMs) if (untilMs <= nowMs) this.#avoidUntilMs.delete(index);
    return new Set(this.#avoidUntilMs.keys());
  }

  /**
   * A connection with another ALPN to the endpoint in use, for a channel beside call home (the
   * upload channel): no failover, and its outcome does not change the endpoints' state in status.
   */
  async connectInUse(alpn: string, signal?: AbortSignal): Promise<DialedHub> {
    const index = this.#current;
    const record = this.#endpoints[index];
    if (!record) throw new Error(`no endpoint ${index}`);
    return { socket: await this.#connect(record, alpn, signal), endpoint: record.endpoint, index };
  }

  /** Every endpoint, in order of preference, with its state for status. */
  status(): EndpointStatus[] {
    return this.#endpoints.map((record, index) => ({
      endpoint: record.endpoint,
      state:
        record.ok === undefined
          ? 'untried'
          : !record.ok
            ? 'failed'
            : index === this.#current
              ? 'in-use'
              : 'standby',
      via: record.proxy ? 'proxy' : 'direct',
      lastError: record.lastError?.message ?? null,
      lastErrorCode: record.lastError?.code ?? null,
      sinceMs: record.sinceMs,
    }));
  }

  proxyStatus(): ProxyStatus | null {
    const proxy = this.#options.proxy;
    if (!proxy) return null;
    return {
      url: describeProxy(proxy),
      source: proxy.source,
      username: proxy.username ?? null,
      lastError: this.#proxyError?.message ?? null,
      lastErrorCode: this.#proxyError?.code ?? null,
      lastErrorAtMs: this.#proxyError?.atMs ?? null,
    };
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
  }

  #describe(index: number): DialedHubEndpoint {
    return { index, endpoint: this.#endpoints[index]?.endpoint ?? '' };
  }

  async #attempt(index: number, alpn: string, signal?: AbortSignal): Promise<TLSSocket> {
    const record = this.#endpoints[index];
    if (!record) throw new Error(`no endpoint ${index}`);
    try {
      const socket = await this.#connect(record, alpn, signal);
      this.#record(record, null);
      if (record.proxy) this.#proxyError = null;
      return socket;
    } catch (err) {
      // Dropped because another endpoint connected first (or the caller gave up): no verdict on it.
      if (signal?.aborted) throw err;
      // Every failure of the way to the hub is coded; anything else (station files that cannot be
      // read) is shown with its own words.
      this.#record(
        record,
        err instanceof LifelineError
          ? err
          : new LifelineError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err }),
      );
      // A CONNECT refused for one endpoint (the proxy cannot reach it) while the proxy carries the
      // endpoint in use is that endpoint's problem, shown with it, not the proxy's.
      const inUse = this.#endpoints[this.#current];
      const proxyWorks = inUse !== record && inUse?.proxy !== undefined && inUse.ok === true;
      if (
        err instanceof LifelineError &&
        err.code.startsWith('PROXY_') &&
        !(err.code === 'PROXY_CONNECT_REFUSED' && proxyWorks)
      )
        this.#proxyError = { message: err.message, code: err.code, atMs: this.#options.clock.now() };
      throw err;
    }
  }

  #record(record: EndpointRecord, error: LifelineError | null): void {
    const ok = error === null;
    if (record.ok !== ok) record.sinceMs = this.#options.clock.now();
    record.ok = ok;
    if (error !== null) record.lastError = error;
  }

  /** TCP (or a CONNECT through the proxy), then TLS 1.3 with the station certificate and the ALPN. */
  #connect(record: EndpointRecord, alpn: string, signal?: AbortSignal): Promise<TLSSocket> {
    const options = this.#options;
    const { host, port } = record.address;
    const servername = options.serverName ?? (isIP(host) ? undefined : host);
    const credentials = options.credentials();
    const deadline = options.clock.now() + options.connectTimeoutMs;
    return new Promise<TLSSocket>((resolve, reject) => {
      let tls: TLSSocket | undefined;
      let raw: Socket | undefined;
      let settled = false;
      const finish = (err: Error | undefined, socket?: TLSSocket) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) {
          tls?.destroy();
          raw?.destroy();
          reject(err);
        } else if (socket) resolve(socket);
      };
      // The caller's reason (an AbortError unless it gave one), as AbortSignal.throwIfAborted has it.
      const onAbort = () => finish(abortReason(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(
        () =>
          finish(
            new LifelineError(
              'LINK_TIMEOUT',
              `no TLS connection to ${record.endpoint} within ${options.connectTimeoutMs} ms (connection timed out)`,
            ),
          ),
        options.connectTimeoutMs,
      );
      const startTls = (socket: Socket | undefined) => {
        if (settled) {
          socket?.destroy();
          return;
        }
        raw = socket;
        tls = tlsConnect({
          // Directly, the endpoint's address is dialled; through the proxy's tunnel, `host` is only
          // the name checked in the hub's certificate. `servername` (hub.serverName, else a host
          // name) is sent as SNI and is the name checked when given.
          ...(socket ? { socket, host: options.serverName ?? host } : { host, port }),
          ...(servername ? { servername } : {}),
          ca: credentials.caPem,
          cert: credentials.certPem,
          key: credentials.keyPem,
          ALPNProtocols: [alpn],
          minVersion: 'TLSv1.3',
        });
        const secured = tls;
        secured.once('secureConnect', () => {
          if (secured.alpnProtocol !== alpn) {
            finish(
              new LifelineError(
                'LINK_ALPN',
                `the hub at ${record.endpoint} did not agree to the protocol ${alpn} (ALPN ${String(secured.alpnProtocol)}): is this a Lifeline hub?`,
              ),
            );
            return;
          }
          finish(undefined, secured);
        });
        const onTlsError = (err: NodeJS.ErrnoException) => finish(dialFailure(err, record, alpn));
        secured.on('error', onTlsError);
      };
      if (record.proxy) {
        connectThroughProxy({
          proxy: record.proxy,
          target: record.address,
          timeoutMs: Math.max(1, deadline - options.clock.now()),
        }).then(startTls, (err: unknown) => finish(toLifelineError(err)));
      } else {
        startTls(undefined);
      }
    });
  }

  #scheduleProbe(): void {
    clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
    if (this.#closed || this.#current === 0) return;
    this.#probeTimer = setTimeout(() => void this.#probe(), this.#options.failbackIntervalMs);
    this.#probeTimer.unref();
  }

  /** Tries each endpoint preferred to the one in use; the first that completes a handshake wins. */
  async #probe(): Promise<void> {
    if (this.#probing || this.#closed) return;
    this.#probing = true;
    try {
      const avoided = this.#avoided();
      for (let index = 0; index < this.#current; index++) {
        if (avoided.has(index)) continue;
        try {
          // The call-home protocol: a probe must not look like a tunnel to the hub's admission.
          const socket = await this.#attempt(index, alpnCallHome);
          socket.destroy();
        } catch {
          continue;
        }
        if (this.#closed) return;
        this.#current = index;
        this.emit('failback', this.#describe(index));
        break;
      }
    } finally {
      this.#probing = false;
      this.#scheduleProbe();
    }
  }
}

/**
 * The order of one dial round over `count` endpoints: the one in use, then the others in order of
 * preference. When the one in use is avoided (its node is draining), the round starts at the
 * endpoint after it and goes on round the list; avoided endpoints come last, in that order.
 */
export function dialOrder(count: number, current: number, avoided: ReadonlySet<number>): number[] {
  const all = [...Array(count).keys()];
  const order = avoided.has(current)
    ? all.map((k) => (current + 1 + k) % count)
    : [current, ...all].filter((i, at, list) => list.indexOf(i) === at);
  return [...order.filter((i) => !avoided.has(i)), ...order.filter((i) => avoided.has(i))];
}

export interface DialedHubEndpoint {
  index: number;
  endpoint: string;
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new DOMException('the dial was aborted', 'AbortError');
}

/** A socket or TLS failure of one endpoint: its LINK_* code, a sentence saying what to look at. */
function dialFailure(err: NodeJS.ErrnoException, record: EndpointRecord, alpn: string): LifelineError {
  const where = record.proxy ? `${record.endpoint} (through the proxy)` : record.endpoint;
  const code = linkCodeOf(err);
  let message: string;
  switch (err.code) {
    case 'ECONNREFUSED':
      message = `connection refused by ${where}: the hub is not listening there`;
      break;
    case 'ENOTFOUND':
      message = `the hub name ${record.address.host} could not be resolved`;
      break;
    case 'ETIMEDOUT':
      message = `no answer from ${where} (connection timed out)`;
      break;
    case 'ECONNRESET':
      message = `the connection to ${where} was reset`;
      break;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      message = `the hub certificate at ${where} does not name this hub address`;
      break;
    case 'CERT_HAS_EXPIRED':
      message = `the hub certificate at ${where} has expired`;
      break;
    default: {
      // OpenSSL's errors carry a short reason beside their long message.
      const reason = (err as { reason?: unknown }).reason;
      const why = typeof reason === 'string' && reason !== '' ? reason : err.message;
      if (isUnknownHubIssuer(err))
        message = `the hub certificate at ${where} is not issued by the pinned hub CA`;
      else if (code === 'LINK_ALPN')
        message = `the server at ${where} accepts none of the protocols offered (${alpn}; ${why}): is this a Lifeline hub, of a release with this channel?`;
      else if (code === 'LINK_TLS_FAILED')
        message = `the TLS handshake with ${where} failed (${why}): is this the hub's station port?`;
      else message = `${where}: ${why}`;
    }
  }
  // An error without a code of ours happened on the way to the hub: it did not reach it.
  return new LifelineError(code ?? 'LINK_UNREACHABLE', message, { cause: err });
}

/**
 * A dialer for a command that runs beside the agent (audit verify, fixes, callhome test) from the
 * data directory alone: agent.yaml's endpoints and proxy, the station files as they are now.
 */
export function hubDialerFromDataDir(
  dataDir: string,
  options: { clock?: Clock; credentials?: () => TlsCredentials } = {},
): HubDialer {
  const config = loadAgentConfig(dataDir);
  const paths = agentPaths(dataDir);
  const read = (path: string) => readFileSync(path, 'utf8');
  return new HubDialer({
    endpoints: config.hub.endpoints,
    serverName: config.hub.serverName,
    credentials:
      options.credentials ??
      (() => ({
        caPem: read(paths.hubCa),
        certPem: read(paths.stationCert),
        keyPem: read(paths.stationKey),
      })),
    proxy: resolveProxy(config.proxy, dataDir),
    connectTimeoutMs: config.tunnel.connectTimeout,
    failoverAfterMs: config.hub.failoverAfter,
    failbackIntervalMs: config.hub.failbackInterval,
    clock: options.clock ?? systemClock,
  });
}
