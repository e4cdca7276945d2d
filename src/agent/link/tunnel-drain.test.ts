// The tunnel client and a draining hub node, against two real TLS "hubs" on loopback: a GOAWAY
// NO_ERROR with a `reconnect=elsewhere` hint moves the tunnel to the next endpoint at once while the
// session running on the old tunnel goes on; a draining node refusing a new tunnel (ENHANCE_YOUR_CALM
// with the hint) sends it to the next endpoint without the hint's wait.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  connect as h2connect,
  constants as h2constants,
  type ClientHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { systemClock } from '../../common/clock.js';
import { silentLogger } from '../../common/logger.js';
import { createCa, createKeyAndCsr, issueServerCert, signStationCsr } from '../../pki/index.js';
import { alpnTunnel, goawayHintText } from '../../protocol/index.js';
import { HubDialer } from './hub-dialer.js';
import { TunnelClient, type TunnelStatus } from './tunnel-client.js';

const day = 86_400_000;
const hint = goawayHintText({ retryAfterMs: 5000, reason: 'the hub node is draining', elsewhere: true });

interface FakeHub {
  server: TlsServer;
  port: number;
  /** The tunnels that reached it, as the hub's HTTP/2 client sessions. */
  tunnels: ClientHttp2Session[];
  /** Set: new tunnels are refused as a draining node refuses them. */
  draining: boolean;
}

let credentials: { caPem: string; certPem: string; keyPem: string };
const hubs: FakeHub[] = [];

/** The agent's session gate, reduced to an echo: what the hub sends on a session comes back. */
const streams = new Set<ServerHttp2Stream>();
let stopAllCalls = 0;
const gate = {
  handleStream(stream: ServerHttp2Stream) {
    streams.add(stream);
    stream.once('close', () => streams.delete(stream));
    stream.respond({ ':status': 200 });
    stream.pipe(stream);
  },
  stopAll() {
    stopAllCalls += 1;
    return 0;
  },
  get activeCount() {
    return streams.size;
  },
};

async function startHub(keyPem: string, certPem: string): Promise<FakeHub> {
  const server = createTlsServer({
    key: keyPem,
    cert: certPem,
    ca: credentials.caPem,
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: [alpnTunnel],
    minVersion: 'TLSv1.3',
  });
  const hub: FakeHub = { server, port: 0, tunnels: [], draining: false };
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', () => undefined);
    const session = h2connect('https://station', { createConnection: () => socket });
    session.on('error', () => undefined);
    hub.tunnels.push(session);
    if (hub.draining)
      session.once('connect', () => {
        session.goaway(h2constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from(hint));
        setTimeout(() => session.destroy(), 100).unref();
      });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  hub.port = (server.address() as AddressInfo).port;
  return hub;
}

before(async () => {
  const ca = await createCa('test CA', day);
  const server = await issueServerCert(ca, ['127.0.0.1'], day);
  const station = await createKeyAndCsr('station');
  const stationCert = await signStationCsr(ca, station.csrPem, 'ST-TEST-TEST-0', day);
  credentials = { caPem: ca.certPem, certPem: stationCert, keyPem: station.keyPem };
  hubs.push(await startHub(server.keyPem, server.certPem), await startHub(server.keyPem, server.certPem));
});

after(() => {
  for (const hub of hubs) {
    for (const session of hub.tunnels) session.destroy();
    hub.server.close();
  }
});

function client(endpoints: string[]) {
  const dialer = new HubDialer({ endpoints, serverName: undefined, credentials: () => credentials });
  const tunnel = new TunnelClient({
    dialer,
    gate,
    clock: systemClock,
    logger: silentLogger(),
    pingIntervalMs: 10_000,
    pingTimeoutMs: 10_000,
    reconnectMinMs: 100,
    reconnectMaxMs: 200,
    random: () => 0,
  });
  return { dialer, tunnel };
}

function waitFor(
  tunnel: TunnelClient,
  ok: (status: TunnelStatus) => boolean,
  what: string,
): Promise<TunnelStatus> {
  if (ok(tunnel.status)) return Promise.resolve(tunnel.status);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      tunnel.off('state', check);
      reject(new Error(`no ${what} within 5 s: ${JSON.stringify(tunnel.status)}`));
    }, 5000);
    const check = (status: TunnelStatus) => {
      if (!ok(status)) return;
      clearTimeout(timer);
      tunnel.off('state', check);
      resolve(status);
    };
    tunnel.on('state', check);
  });
}

/** Sends `text` on the session stream and resolves with what came back. */
async function echo(stream: NodeJS.ReadWriteStream, text: string): Promise<string> {
  let got = '';
  const onData = (chunk: Buffer) => (got += chunk.toString());
  stream.on('data', onData);
  stream.write(text);
  for (let waited = 0; got.length < text.length && waited < 5000; waited += 20)
    await new Promise((done) => setTimeout(done, 20));
  stream.off('data', onData);
  return got;
}

test('a drain GOAWAY on a live tunnel: a new tunnel to the next endpoint, the running session goes on', async () => {
  const [first, second] = hubs;
  assert.ok(first && second);
  const { dialer, tunnel } = client([`127.0.0.1:${first.port}`, `127.0.0.1:${second.port}`]);
  stopAllCalls = 0;
  try {
    tunnel.enable();
    await waitFor(tunnel, (s) => s.state === 'connected', 'tunnel');
    const old = first.tunnels.at(-1);
    assert.ok(old);
    const session = old.request({ ':method': 'POST', ':path': '/session' }, { endStream: false });
    await once(session, 'response');
    assert.equal(await echo(session, 'before the drain\n'), 'before the drain\n');

    // What the hub's registry does when its node drains.
    const movedAt = performance.now();
    const waiting = waitFor(tunnel, (s) => s.lastErrorCode === 'HUB_DRAINING', 'the drain in status');
    old.goaway(h2constants.NGHTTP2_NO_ERROR, 0, Buffer.from(hint));
    old.close();
    const why = await waiting;
    assert.match(
      why.lastError ?? '',
      /is draining \(the hub node is draining\): moving to the next hub address; 1 session/,
    );
    const moved = await waitFor(
      tunnel,
      (s) => s.state === 'connected' && s.endpoint === `127.0.0.1:${second.port}`,
      'the tunnel on the second endpoint',
    );
    // At once (no backoff, not the hint's 5 s): the next address is not the draining one.
    assert.ok(performance.now() - movedAt < 4000);
    assert.equal(moved.lastErrorCode, null);
    assert.equal(second.tunnels.length, 1);

    // The session on the drained node's tunnel still flows, and was never stopped.
    assert.equal(await echo(session, 'during the drain\n'), 'during the drain\n');
    assert.equal(stopAllCalls, 0);
    assert.equal(gate.activeCount, 1);

    // It ends: the old tunnel closes by itself; the new one stays.
    session.end();
    await once(old, 'close');
    assert.equal(tunnel.status.state, 'connected');
    assert.equal(tunnel.status.endpoint, `127.0.0.1:${second.port}`);
    assert.deepEqual(
      dialer.status().map((e) => e.state),
      ['standby', 'in-use'],
    );
  } finally {
    tunnel.close();
    dialer.close();
  }
});

test('a draining node refusing a new tunnel sends it to the next endpoint without waiting', async () => {
  const [first, second] = hubs;
  assert.ok(first && second);
  first.draining = true;
  const before = second.tunnels.length;
  const { dialer, tunnel } = client([`127.0.0.1:${first.port}`, `127.0.0.1:${second.port}`]);
  try {
    const started = performance.now();
    const waiting = waitFor(tunnel, (s) => s.lastErrorCode === 'HUB_DRAINING', 'the refusal in status');
    tunnel.enable();
    assert.match((await waiting).lastError ?? '', /is draining .*: dialling the next hub address/);
    await waitFor(
      tunnel,
      (s) => s.state === 'connected' && s.endpoint === `127.0.0.1:${second.port}`,
      'the tunnel on the second endpoint',
    );
    assert.ok(performance.now() - started < 4000, 'not after the hint of 5 s');
    assert.equal(second.tunnels.length, before + 1);
  } finally {
    first.draining = false;
    tunnel.close();
    dialer.close();
  }
});

test('with one endpoint, a draining node is dialled again after its hint', async () => {
  const [first] = hubs;
  assert.ok(first);
  first.draining = true;
  const { dialer, tunnel } = client([`127.0.0.1:${first.port}`]);
  try {
    const arrived = first.tunnels.length;
    tunnel.enable();
    const waiting = await waitFor(tunnel, (s) => s.lastErrorCode === 'HUB_DRAINING', 'the refusal');
    assert.match(waiting.lastError ?? '', /dialling it again in 5000 ms, the only hub address/);
    assert.ok((waiting.nextAttemptAtMs ?? 0) - Date.now() > 4000);
    assert.equal(first.tunnels.length, arrived + 1);
  } finally {
    first.draining = false;
    tunnel.close();
    dialer.close();
  }
});
