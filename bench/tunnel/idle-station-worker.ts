// One child process of the idle-stations benchmark: enrolls a batch of stations with the agent's
// own enroll(), and on the parent's word emulates their agents holding idle tunnels to the hub as
// src/agent/link/tunnel-client.ts does (TLS 1.3 with the station certificate, ALPN lifeline-tunnel/1,
// HTTP/2 server on the socket, a ping every pingIntervalMs).
// Started by idle-stations.ts with the path of a JSON config; talks to it over IPC.

import { readFileSync } from 'node:fs';
import { performServerHandshake, type ServerHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { agentPaths, enroll } from '../../src/agent/index.js';
import { alpnTunnel, http2SessionWindowBytes, http2Settings } from '../../src/protocol/index.js';

export interface WorkerConfig {
  hubPort: number;
  /** One enrollment token per station. */
  tokens: string[];
  /** Agent data directories go here, one per station. */
  dataDir: string;
  /** Enrollments and handshakes in flight at once. */
  concurrency: number;
  pingIntervalMs: number;
}

/** Worker to parent. */
export type WorkerMessage =
  | { type: 'progress'; phase: 'enrolled' | 'connected'; count: number }
  | { type: 'enrolled'; count: number }
  | { type: 'ready'; count: number }
  | { type: 'lost'; stationId: string; reason: string }
  | { type: 'failed'; message: string };

/** Parent to worker: open the tunnels (after the parent has measured the hub at rest). */
export interface ConnectCommand {
  type: 'connect';
}

const connectTimeoutMs = 30_000;
const sessions = new Set<ServerHttp2Session>();

function send(message: WorkerMessage): void {
  process.send?.(message);
}

interface StationCredentials {
  stationId: string;
  keyPem: string;
  certPem: string;
  caPem: string;
}

/** Runs `task` over `items` with at most `concurrency` in flight; reports every 100 done. */
async function forEachLimited<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<R>,
  onHundred: (done: number) => void,
): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  let done = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    for (let index = next++; index < items.length; index = next++) {
      out[index] = await task(items[index] as T, index);
      if (++done % 100 === 0) onHundred(done);
    }
  });
  await Promise.all(lanes);
  return out;
}

async function enrollStation(
  config: WorkerConfig,
  tokenText: string,
  index: number,
): Promise<StationCredentials> {
  const dataDir = join(config.dataDir, `station-${index}`);
  const { stationId } = await enroll({ dataDir, tokenText, name: `idle-bench-${index}` });
  const paths = agentPaths(dataDir);
  return {
    stationId,
    keyPem: readFileSync(paths.stationKey, 'utf8'),
    certPem: readFileSync(paths.stationCert, 'utf8'),
    caPem: readFileSync(paths.hubCa, 'utf8'),
  };
}

/** Resolves once the hub's HTTP/2 SETTINGS arrived: the tunnel is up, as the real agent counts it. */
function connectStation(config: WorkerConfig, station: StationCredentials): Promise<void> {
  return new Promise((resolve, reject) => {
    let up = false;
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: config.hubPort,
      servername: 'localhost',
      ca: station.caPem,
      cert: station.certPem,
      key: station.keyPem,
      ALPNProtocols: [alpnTunnel],
      minVersion: 'TLSv1.3',
    });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, config.pingIntervalMs);
    const timer = setTimeout(() => socket.destroy(new Error('tunnel not up in time')), connectTimeoutMs);
    let failure = 'connection closed';
    socket.on('error', (err: Error) => (failure = err.message));
    socket.once('close', () => {
      clearTimeout(timer);
      if (up) send({ type: 'lost', stationId: station.stationId, reason: failure });
      else reject(new Error(`${station.stationId}: ${failure}`));
    });
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol !== alpnTunnel) {
        socket.destroy(new Error(`hub chose ALPN ${String(socket.alpnProtocol)}`));
        return;
      }
      const session = performServerHandshake(socket, { settings: http2Settings, maxSessionMemory: 64 });
      session.setLocalWindowSize(http2SessionWindowBytes);
      session.on('error', (err: Error) => (failure = err.message));
      session.on('goaway', (_code: number, _last: number, data?: Buffer) => {
        if (data !== undefined && data.length > 0) failure = `hub GOAWAY: ${data.toString('utf8')}`;
      });
      session.once('close', () => socket.destroy());
      session.once('remoteSettings', () => {
        up = true;
        clearTimeout(timer);
        sessions.add(session);
        session.once('close', () => sessions.delete(session));
        startPings(session, config.pingIntervalMs);
        resolve();
      });
    });
  });
}

/** Pings like the agent does, starting at a random offset so the batch does not ping in step. */
function startPings(session: ServerHttp2Session, intervalMs: number): void {
  let interval: NodeJS.Timeout | undefined;
  const first = setTimeout(() => {
    interval = setInterval(() => {
      if (!session.destroyed) session.ping(() => undefined);
    }, intervalMs);
  }, Math.random() * intervalMs);
  session.once('close', () => {
    clearTimeout(first);
    clearInterval(interval);
  });
}

function waitForConnectCommand(): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (message: ConnectCommand): void => {
      if (message.type !== 'connect') return;
      process.off('message', onMessage);
      resolve();
    };
    process.on('message', onMessage);
  });
}

async function main(): Promise<void> {
  const configPath = process.argv[2];
  if (configPath === undefined) throw new Error('usage: idle-station-worker.ts CONFIG.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as WorkerConfig;
  const connectCommand = waitForConnectCommand();
  const stations = await forEachLimited(
    config.tokens,
    config.concurrency,
    (token, index) => enrollStation(config, token, index),
    (count) => send({ type: 'progress', phase: 'enrolled', count }),
  );
  send({ type: 'enrolled', count: stations.length });
  await connectCommand;
  await forEachLimited(
    stations,
    config.concurrency,
    (station) => connectStation(config, station),
    (count) => send({ type: 'progress', phase: 'connected', count }),
  );
  send({ type: 'ready', count: stations.length });
}

function shutDown(): void {
  for (const session of sessions) session.destroy();
  process.exit(0);
}
process.once('SIGTERM', shutDown);
process.once('SIGINT', shutDown);
// The parent's end of the IPC channel closing means the benchmark is gone: leave with it.
process.once('disconnect', shutDown);

main().catch((err: unknown) => {
  send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  process.exitCode = 1;
});
