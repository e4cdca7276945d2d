// Many agents' tunnels in one process, for the reconnect-storm test: real TunnelClient and HubDialer
// instances (TLS 1.3, station certificates, HTTP/2, backoff, retry-later), each with its own
// certificate. Only the session gate is a stand-in: the swarm tests connecting, not sessions.
//
// Run: node --import tsx test/harness/station-swarm.ts CONFIG.json
// Writes one NDJSON line per state change of each agent to `eventsFile` (the tunnel client emits
// 'connecting' at each dial, then 'connected' or 'waiting' with the wait it chose), the tunnel
// client's own log lines (e.g. "the hub asked to retry later", with retryAfterMs and delayMs) with
// the agent's index, and on stdout a `{"connected":N,"total":M}` line whenever N changes.
// SIGTERM: turns every tunnel off, flushes the file and exits 0.

import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { systemClock } from '../../src/common/clock.js';
import { HubDialer } from '../../src/agent/link/index.js';
import { TunnelClient, type TunnelClientOptions } from '../../src/agent/link/index.js';

export interface SwarmConfig {
  endpoint: string;
  caPem: string;
  keyPem: string;
  stations: { index: number; stationId: string; certPem: string }[];
  reconnectMinMs: number;
  reconnectMaxMs: number;
  eventsFile: string;
}

/** One line of the events file written for each state change. */
export interface SwarmStateEvent {
  kind: 'state';
  agent: number;
  atMs: number;
  state: string;
  lastError: string | null;
  /** HUB_DRAINING, TUNNEL_ADMISSION_LIMITED, ...: why the agent waits. */
  lastErrorCode: string | null;
  nextAttemptAtMs: number | null;
}

/** The session gate stand-in: no sessions are opened in a storm; any stream is refused. */
const gate: TunnelClientOptions['gate'] = {
  handleStream(stream) {
    stream.close();
  },
  stopAll() {
    return 0;
  },
  get activeCount() {
    return 0;
  },
};

function main(configPath: string): void {
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as SwarmConfig;
  const destination = pino.destination({ dest: config.eventsFile, sync: false, minLength: 8192 });
  const log = pino({ level: 'info', base: null }, destination);
  const clients: { client: TunnelClient; dialer: HubDialer }[] = [];
  const connected = new Set<number>();
  for (const station of config.stations) {
    const dialer = new HubDialer({
      endpoints: [config.endpoint],
      serverName: undefined,
      credentials: () => ({ caPem: config.caPem, certPem: station.certPem, keyPem: config.keyPem }),
      connectTimeoutMs: 15_000,
      clock: systemClock,
    });
    const client = new TunnelClient({
      dialer,
      gate,
      clock: systemClock,
      logger: log.child({ agent: station.index }),
      pingIntervalMs: 10_000,
      pingTimeoutMs: 10_000,
      reconnectMinMs: config.reconnectMinMs,
      reconnectMaxMs: config.reconnectMaxMs,
    });
    client.on('state', (status) => {
      const event: SwarmStateEvent = {
        kind: 'state',
        agent: station.index,
        atMs: Date.now(),
        state: status.state,
        lastError: status.lastError,
        lastErrorCode: status.lastErrorCode ?? null,
        nextAttemptAtMs: status.nextAttemptAtMs,
      };
      log.info(event);
      if (status.state === 'connected') connected.add(station.index);
      else connected.delete(station.index);
    });
    clients.push({ client, dialer });
  }
  let reported = -1;
  const progress = setInterval(() => {
    if (connected.size === reported) return;
    reported = connected.size;
    process.stdout.write(`${JSON.stringify({ connected: reported, total: clients.length })}\n`);
  }, 250);
  for (const { client } of clients) client.enable();
  process.once('SIGTERM', () => {
    clearInterval(progress);
    for (const { client, dialer } of clients) {
      client.close();
      dialer.close();
    }
    destination.flushSync();
    // The tunnels close gracefully within a second; exit then, whatever is left.
    setTimeout(() => {
      destination.flushSync();
      process.exit(0);
    }, 1500).unref();
  });
}

const configPath = process.argv[2];
if (!configPath) {
  process.stderr.write('usage: station-swarm.ts CONFIG.json\n');
  process.exit(2);
}
main(configPath);
