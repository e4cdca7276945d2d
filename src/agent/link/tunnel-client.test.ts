// The tunnel client against a real TLS "hub" on loopback: "retry later" (GOAWAY ENHANCE_YOUR_CALM
// with `retry-after-ms=N; reason`) makes it wait at least N ms and dial the same endpoint again,
// not the next one; an expired station certificate is not used until the credentials change; the
// last error carries its code (a refused endpoint, a hub refusing the station).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { connect as h2connect, constants as h2constants } from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { systemClock } from '../../common/clock.js';
import { silentLogger } from '../../common/logger.js';
import { createCa, createKeyAndCsr, issueServerCert, signStationCsr } from '../../pki/index.js';
import { alpnTunnel } from '../../protocol/index.js';
import { HubDialer } from './hub-dialer.js';
import { TunnelClient, type TunnelStatus } from './tunnel-client.js';

const day = 86_400_000;
let credentials: { caPem: string; certPem: string; keyPem: string };
let hub: TlsServer;
let hubPort: number;
/** When each tunnel connection reached the hub; the first `refuse` of them are told to retry later. */
const arrivals: number[] = [];
let refuse = 0;
/** Set: every tunnel is refused as a station the hub does not accept, with this reason. */
let refuseStation: string | undefined;
/** The second endpoint: it must never be dialled while the first one says "retry later". */
let standby: TcpServer;
let standbyPort: number;
let standbyConnections = 0;

const gate = {
  handleStream: () => undefined,
  stopAll: () => 0,
  activeCount: 0,
};

before(async () => {
  const ca = await createCa('test CA', day);
  const server = await issueServerCert(ca, ['127.0.0.1'], day);
  const station = await createKeyAndCsr('station');
  const stationCert = await signStationCsr(ca, station.csrPem, 'ST-TEST-TEST-0', day);
  credentials = { caPem: ca.certPem, certPem: stationCert, keyPem: station.keyPem };
  hub = createTlsServer({
    key: server.keyPem,
    cert: server.certPem,
    ca: ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: [alpnTunnel],
    minVersion: 'TLSv1.3',
  });
  hub.on('secureConnection', (socket: TLSSocket) => {
    arrivals.push(Date.now());
    socket.on('error', () => undefined);
    // The hub is the HTTP/2 client on a tunnel.
    const session = h2connect('https://station', { createConnection: () => socket });
    session.on('error', () => undefined);
    if (refuseStation !== undefined) {
      const why = refuseStation;
      session.once('connect', () => {
        session.goaway(h2constants.NGHTTP2_INADEQUATE_SECURITY, 0, Buffer.from(why));
        setTimeout(() => session.destroy(), 100).unref();
      });
    } else if (arrivals.length <= refuse) {
      session.once('connect', () => {
        session.goaway(
          h2constants.NGHTTP2_ENHANCE_YOUR_CALM,
          0,
          Buffer.from('retry-after-ms=1500; admission limit of 50 tunnels per second reached'),
        );
        setTimeout(() => session.destroy(), 100).unref();
      });
    }
  });
  await new Promise<void>((done) => hub.listen(0, '127.0.0.1', done));
  hubPort = (hub.address() as AddressInfo).port;
  standby = createTcpServer((socket) => {
    standbyConnections++;
    socket.destroy();
  });
  await new Promise<void>((done) => standby.listen(0, '127.0.0.1', done));
  standbyPort = (standby.address() as AddressInfo).port;
});

after(() => {
  hub.close();
  standby.close();
});

function client(
  options: {
    credentials?: ConstructorParameters<typeof TunnelClient>[0]['credentials'];
    endpoints?: string[];
  } = {},
) {
  const dialer = new HubDialer({
    endpoints: options.endpoints ?? [`127.0.0.1:${hubPort}`, `127.0.0.1:${standbyPort}`],
    serverName: undefined,
    credentials: () => credentials,
    connectTimeoutMs: 5000,
  });
  const tunnel = new TunnelClient({
    dialer,
    gate,
    clock: systemClock,
    logger: silentLogger(),
    pingIntervalMs: 10_000,
    pingTimeoutMs: 10_000,
    reconnectMinMs: 100,
    reconnectMaxMs: 200,
    // No jitter beyond the hub's floor: the wait is exactly retry-after-ms.
    random: () => 0,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  return { dialer, tunnel };
}

function waitForState(
  tunnel: TunnelClient,
  state: TunnelStatus['state'],
  timeoutMs: number,
): Promise<TunnelStatus> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      tunnel.off('state', check);
      reject(new Error(`no state ${state} within ${timeoutMs} ms: ${JSON.stringify(tunnel.status)}`));
    }, timeoutMs);
    const check = (status: TunnelStatus) => {
      if (status.state !== state) return;
      clearTimeout(timer);
      tunnel.off('state', check);
      resolve(status);
    };
    tunnel.on('state', check);
  });
}

test('a GOAWAY ENHANCE_YOUR_CALM "retry-after-ms=N" makes the client wait at least N ms on the same endpoint', async () => {
  arrivals.length = 0;
  refuse = 1;
  standbyConnections = 0;
  const { dialer, tunnel } = client();
  try {
    tunnel.enable();
    const waiting = await waitForState(tunnel, 'waiting', 5000);
    assert.match(
      waiting.lastError ?? '',
      /^the hub is busy: admission limit of 50 tunnels per second reached; retry in 1500 ms$/,
    );
    assert.equal(waiting.lastErrorCode, 'TUNNEL_ADMISSION_LIMITED');
    assert.ok((waiting.nextAttemptAtMs ?? 0) - (arrivals[0] ?? 0) >= 1400);
    await waitForState(tunnel, 'connected', 6000);
    assert.equal(arrivals.length, 2);
    const waitedMs = (arrivals[1] ?? 0) - (arrivals[0] ?? 0);
    assert.ok(waitedMs >= 1500, `redialled after ${waitedMs} ms`);
    // Not an endpoint failure: the second endpoint was never tried, the first is still in use.
    assert.equal(standbyConnections, 0);
    assert.equal(tunnel.status.endpoint, `127.0.0.1:${hubPort}`);
    assert.deepEqual(
      dialer.status().map((e) => e.state),
      ['in-use', 'untried'],
    );
  } finally {
    tunnel.close();
    dialer.close();
  }
});

test('an expired station certificate is not used; new credentials make the tunnel dial at once', async () => {
  arrivals.length = 0;
  refuse = 0;
  class ExpiringCredentials extends EventEmitter<{ changed: [] }> {
    notAfterMs = Date.now() - 1000;
    expired(nowMs: number): boolean {
      return nowMs >= this.notAfterMs;
    }
  }
  const watch = new ExpiringCredentials();
  const { dialer, tunnel } = client({ credentials: watch });
  try {
    tunnel.enable();
    assert.equal(tunnel.status.state, 'waiting');
    assert.match(
      tunnel.status.lastError ?? '',
      /station certificate expired at .*renewal is waiting for the hub/,
    );
    assert.equal(tunnel.status.lastErrorCode, 'STATION_CERT_EXPIRED');
    await new Promise((done) => setTimeout(done, 300));
    assert.equal(arrivals.length, 0, 'no dial with an expired certificate');
    watch.notAfterMs = Date.now() + day;
    const connected = waitForState(tunnel, 'connected', 5000);
    watch.emit('changed');
    assert.equal((await connected).lastErrorCode, null);
    assert.equal(arrivals.length, 1);
  } finally {
    tunnel.close();
    dialer.close();
  }
});

test("a refused endpoint is the tunnel's last error, with its code", async () => {
  const closed = createTcpServer();
  await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
  const { port } = closed.address() as AddressInfo;
  await new Promise((done) => closed.close(done));
  const { dialer, tunnel } = client({ endpoints: [`127.0.0.1:${port}`] });
  try {
    tunnel.enable();
    const waiting = await waitForState(tunnel, 'waiting', 5000);
    assert.equal(waiting.lastErrorCode, 'LINK_REFUSED');
    assert.match(waiting.lastError ?? '', new RegExp(`connection refused by 127\\.0\\.0\\.1:${port}`));
  } finally {
    tunnel.close();
    dialer.close();
  }
});

test('a hub that refuses the station (GOAWAY INADEQUATE_SECURITY) is TUNNEL_CERT_REJECTED, with its reason', async () => {
  arrivals.length = 0;
  refuseStation = 'the station certificate is not issued by this hub';
  const { dialer, tunnel } = client({ endpoints: [`127.0.0.1:${hubPort}`] });
  try {
    tunnel.enable();
    const waiting = await waitForState(tunnel, 'waiting', 5000);
    assert.equal(waiting.lastErrorCode, 'TUNNEL_CERT_REJECTED');
    assert.equal(
      waiting.lastError,
      'the hub closed the tunnel: the station certificate is not issued by this hub',
    );
  } finally {
    refuseStation = undefined;
    tunnel.close();
    dialer.close();
  }
});
