// "Test call home": walks the path to each configured hub endpoint one step at a time (station
// certificate, name resolution, TCP, proxy, TLS and hub identity, a round trip) and says which step
// failed and why. Runs from the data directory alone, so it works while the agent is down. Through a
// proxy, name resolution and TCP are about the proxy, and the proxy step is its CONNECT to the hub.

import { X509Certificate } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { connect as h2connect } from 'node:http2';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { systemClock, type Clock } from '../../common/clock.js';
import { answerError, parseAnswerBody } from '../../common/net/index.js';
import { LifelineError } from '../../common/errors.js';
import { formatHostPort, parseHostPort } from '../../common/net/index.js';
import { splitPemBundle } from '../../pki/index.js';
import { alpnCallHome } from '../../protocol/index.js';
import { agentPaths, loadAgentConfig } from '../config.js';
import { describeProxy, proxyFor, resolveProxy, type ProxySettings } from '../link/index.js';
import { connectThroughProxy, isUnknownHubIssuer } from '../link/index.js';

export const callHomeSteps = [
  'station-certificate',
  'name-resolution',
  'tcp-connect',
  'proxy',
  'tls-handshake',
  'round-trip',
] as const;
export type CallHomeStep = (typeof callHomeSteps)[number];

export interface StepResult {
  step: CallHomeStep;
  /** The hub endpoint the step is about; none for the station certificate. */
  endpoint?: string;
  status: 'ok' | 'failed' | 'skipped';
  durationMs: number;
  detail?: string;
  /** Why it failed, for people. */
  reason?: string;
}

export interface CallHomeTestReport {
  ok: boolean;
  atMs: number;
  steps: StepResult[];
}

export interface CallHomeTestOptions {
  endpoints: readonly string[];
  serverName: string | undefined;
  caPem: string;
  certPem: string;
  keyPem: string;
  timeoutMs: number;
  /** The proxy in force, if any; NO_PROXY may still exempt an endpoint. */
  proxy?: ProxySettings | undefined;
  clock?: Clock;
}

class StepFailure extends Error {}

const dayMs = 86_400_000;

/** Runs the test with what the agent's data directory holds. */
export async function testCallHomeFromDataDir(
  dataDir: string,
  clock: Clock = systemClock,
): Promise<CallHomeTestReport> {
  const paths = agentPaths(dataDir);
  const config = loadAgentConfig(dataDir);
  const read = (path: string) => readFileSync(path, 'utf8');
  return testCallHome({
    endpoints: config.hub.endpoints,
    serverName: config.hub.serverName,
    caPem: read(paths.hubCa),
    certPem: read(paths.stationCert),
    keyPem: read(paths.stationKey),
    timeoutMs: config.tunnel.connectTimeout,
    proxy: resolveProxy(config.proxy, dataDir),
    clock,
  });
}

export async function testCallHome(options: CallHomeTestOptions): Promise<CallHomeTestReport> {
  const clock = options.clock ?? systemClock;
  const steps: StepResult[] = [];
  const atMs = clock.now();
  steps.push(
    await timed('station-certificate', undefined, () => checkStationCertificate(options, clock.now())),
  );
  for (const endpoint of options.endpoints) steps.push(...(await testEndpoint(endpoint, options, clock)));
  return { ok: steps.every((s) => s.status !== 'failed'), atMs, steps };
}

async function testEndpoint(
  endpoint: string,
  options: CallHomeTestOptions,
  clock: Clock,
): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const { host, port } = parseHostPort(endpoint, 'hub endpoint');
  const proxy = proxyFor(options.proxy, host);
  // Through a proxy, this machine resolves and connects to the proxy; the proxy does the rest.
  const first = proxy ? proxy.address : { host, port };
  let address = first.host;
  let socket: Socket | undefined;
  let tls: TLSSocket | undefined;
  const run = async (step: CallHomeStep, work: () => Promise<string>): Promise<boolean> => {
    // Each step needs the one before it: after a failure the rest cannot be tried.
    const failed = results.find((r) => r.status === 'failed');
    if (failed) {
      results.push({ step, endpoint, status: 'skipped', durationMs: 0, reason: `${failed.step} failed` });
      return false;
    }
    const result = await timed(step, endpoint, work);
    results.push(result);
    return result.status !== 'failed';
  };
  try {
    const what = proxy ? `the proxy ${first.host}` : first.host;
    await run('name-resolution', async () => {
      if (isIP(first.host)) return `${what} is an address`;
      const addresses = await withTimeout(
        lookup(first.host, { all: true }),
        options.timeoutMs,
        'no answer from the resolver',
      );
      address = addresses[0]?.address ?? first.host;
      return `${what} is ${addresses.map((a) => a.address).join(', ')}`;
    });
    await run('tcp-connect', async () => {
      socket = await connectTcp(address, first.port, options.timeoutMs);
      return `connected to ${proxy ? 'the proxy at ' : ''}${formatHostPort({ host: address, port: first.port })}`;
    });
    if (proxy) {
      await run('proxy', async () => {
        if (!socket) throw new StepFailure('no connection to the proxy');
        socket = await connectThroughProxy({
          proxy,
          target: { host, port },
          timeoutMs: options.timeoutMs,
          socket,
        });
        const user = proxy.username === undefined ? 'without authentication' : `as ${proxy.username}`;
        return `the proxy ${describeProxy(proxy)} (from ${proxy.source}) opened a tunnel to ${endpoint} ${user}`;
      });
    } else if (results.at(-1)?.status === 'ok') {
      const detail = options.proxy ? 'not used for this host (NO_PROXY)' : 'none configured';
      results.push({ step: 'proxy', endpoint, status: 'skipped', durationMs: 0, detail });
    }
    await run('tls-handshake', async () => {
      if (!socket) throw new StepFailure('no connection');
      tls = await handshake(socket, host, options);
      const peer = tls.getPeerCertificate();
      const cn = Array.isArray(peer.subject?.CN) ? peer.subject.CN.join(',') : (peer.subject?.CN ?? '?');
      const name = options.serverName ?? host;
      return `${tls.getProtocol() ?? 'TLS'}, hub certificate "${cn}" chains to the pinned hub CA and names ${name}, valid until ${new Date(peer.valid_to).toISOString()}`;
    });
    await run('round-trip', async () => {
      if (!tls) throw new StepFailure('no TLS connection');
      return roundTrip(tls, host, port, options.timeoutMs, clock);
    });
  } finally {
    tls?.destroy();
    socket?.destroy();
  }
  return results;
}

async function timed(
  step: CallHomeStep,
  endpoint: string | undefined,
  work: () => Promise<string> | string,
): Promise<StepResult> {
  const started = performance.now();
  const where = endpoint === undefined ? {} : { endpoint };
  try {
    const detail = await work();
    return { step, ...where, status: 'ok', durationMs: Math.round(performance.now() - started), detail };
  } catch (err) {
    return {
      step,
      ...where,
      status: 'failed',
      durationMs: Math.round(performance.now() - started),
      reason: describeError(step, err),
    };
  }
}

function checkStationCertificate(options: CallHomeTestOptions, nowMs: number): string {
  const cert = new X509Certificate(options.certPem);
  // Two pinned CAs during a CA rotation's overlap: a renewed certificate comes from the second.
  const cas = splitPemBundle(options.caPem).map((pem) => new X509Certificate(pem));
  const notBefore = Date.parse(cert.validFrom);
  const notAfter = Date.parse(cert.validTo);
  if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey)))
    throw new StepFailure(
      'the station certificate (station.pem) is not issued by the pinned hub CA (hub-ca.pem)',
    );
  if (nowMs < notBefore)
    throw new StepFailure(
      `the station certificate is not valid before ${new Date(notBefore).toISOString()} (check the clock)`,
    );
  if (nowMs >= notAfter)
    throw new StepFailure(
      `the station certificate expired at ${new Date(notAfter).toISOString()}: enroll again`,
    );
  const daysLeft = Math.floor((notAfter - nowMs) / dayMs);
  return `valid from ${new Date(notBefore).toISOString()} until ${new Date(notAfter).toISOString()}, ${daysLeft} days left`;
}

function connectTcp(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new StepFailure(
          `no answer from ${host}:${port} within ${timeoutMs} ms (a firewall may drop the packets)`,
        ),
      );
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function handshake(socket: Socket, host: string, options: CallHomeTestOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const servername = options.serverName ?? (isIP(host) ? undefined : host);
    const tls = tlsConnect({
      socket,
      // The name checked in the hub's certificate: the server name, else the endpoint's host.
      host: options.serverName ?? host,
      ...(servername ? { servername } : {}),
      ca: options.caPem,
      cert: options.certPem,
      key: options.keyPem,
      ALPNProtocols: [alpnCallHome],
      minVersion: 'TLSv1.3',
    });
    const timer = setTimeout(() => {
      tls.destroy();
      reject(new StepFailure(`the hub did not complete the TLS handshake within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    tls.once('secureConnect', () => {
      clearTimeout(timer);
      tls.removeAllListeners('error');
      tls.on('error', () => undefined);
      if (tls.alpnProtocol !== alpnCallHome) {
        tls.destroy();
        reject(
          new StepFailure(
            `the peer did not agree to call home (ALPN ${alpnCallHome}): is this a Lifeline hub?`,
          ),
        );
        return;
      }
      resolve(tls);
    });
    tls.once('error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function roundTrip(
  tls: TLSSocket,
  host: string,
  port: number,
  timeoutMs: number,
  clock: Clock,
): Promise<string> {
  const authority = `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  const session = h2connect(authority, { createConnection: () => tls });
  session.on('error', () => undefined);
  try {
    const sentMs = clock.now();
    const answer = await withTimeout(
      get(session, '/v1/ping'),
      timeoutMs,
      `the hub did not answer within ${timeoutMs} ms`,
    );
    const receivedMs = clock.now();
    if (answer.status !== 200) {
      const refusal = answerError(answer.status, answer.body, 'the hub');
      throw new StepFailure(`the hub refused the request: ${refusal.message} (${refusal.code})`);
    }
    const body = parseAnswerBody(answer.body) ?? {};
    if (typeof body.timeMs !== 'number') return `the hub answered in ${receivedMs - sentMs} ms`;
    // The hub read its clock about halfway through the round trip.
    const skewMs = body.timeMs - (sentMs + receivedMs) / 2;
    const sign = skewMs >= 0 ? '+' : '-';
    return `hub time ${new Date(body.timeMs).toISOString()}, clock skew ${sign}${(Math.abs(skewMs) / 1000).toFixed(1)} s (hub minus station)`;
  } finally {
    session.destroy();
  }
}

function get(session: ReturnType<typeof h2connect>, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'GET', ':path': path });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('error', reject);
    stream.once('close', () => {
      if (status === 0) reject(new StepFailure('the hub closed the stream without an answer'));
      else resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
    });
    stream.end();
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, why: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StepFailure(why)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Turns a socket or TLS error into a sentence that says what to look at. */
export function describeError(step: CallHomeStep, err: unknown): string {
  if (err instanceof StepFailure) return err.message;
  if (err instanceof LifelineError) return `${err.message} (${err.code})`;
  const error = err as NodeJS.ErrnoException & { hostname?: string; address?: string; port?: number };
  const code = error.code ?? '';
  const where = error.address ? `${error.address}${error.port ? `:${error.port}` : ''}` : '';
  const reasons: Record<string, string> = {
    ENOTFOUND: `the name ${error.hostname ?? ''} does not resolve`,
    EAI_AGAIN: 'the resolver did not answer (temporary failure)',
    ECONNREFUSED: `connection refused by ${where}: nothing listens there, or a firewall refuses`,
    ECONNRESET: 'the connection was reset',
    ETIMEDOUT: `no answer from ${where}`,
    EHOSTUNREACH: `the host ${where} is unreachable`,
    ENETUNREACH: `the network of ${where} is unreachable`,
    CERT_HAS_EXPIRED: "the hub's certificate has expired",
    CERT_NOT_YET_VALID: "the hub's certificate is not valid yet (check the clock)",
    ERR_TLS_CERT_ALTNAME_INVALID: `the hub's certificate does not name the hub endpoint: ${error.message}`,
  };
  const known =
    reasons[code] ??
    (isUnknownHubIssuer(err)
      ? "the hub's certificate does not chain to the pinned hub CA (hub-ca.pem)"
      : undefined);
  const message = known ?? `${step}: ${error.message || String(err)}`;
  return code ? `${message} (${code})` : message;
}
