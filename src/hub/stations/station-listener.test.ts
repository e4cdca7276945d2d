// The station port over real TLS on loopback: admission refusals ("retry later"), closing a
// revoked station's connections, and new credentials for new connections.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { performServerHandshake, constants as h2 } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { ManualClock } from '../../common/clock.js';
import { connectionLimitsOf } from '../../common/config/index.js';
import { ConnectionGuard } from '../../common/net/index.js';
import { createLogger } from '../../common/logger.js';
import {
  createCa,
  createKeyAndCsr,
  issueNodeCert,
  issueServerCert,
  signStationCsr,
  type KeyAndCert,
} from '../../pki/index.js';
import { alpnCallHome, alpnPeer, alpnTunnel, alpnUpload, generateStationId } from '../../protocol/index.js';
import { openSqliteHubStore } from '../store/index.js';
import { type HubStore } from '../store/index.js';
import { TunnelAdmission, retryAfterMaxMs, retryAfterMinMs } from './admission.js';
import { hubConnectionsSchema } from '../config.js';
import { HubAudit } from '../audit/index.js';
import { StationListener } from './station-listener.js';
import { TunnelJournal } from './tunnel-journal.js';
import { TunnelRegistry } from './tunnel-registry.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const dayMs = 86_400_000;

interface Station {
  stationId: string;
  keyPem: string;
  certPem: string;
}

async function makeStation(ca: KeyAndCert): Promise<Station> {
  const stationId = generateStationId((n) => new Uint8Array(n).map(() => Math.floor(Math.random() * 256)));
  const { keyPem, csrPem } = await createKeyAndCsr('station');
  return { stationId, keyPem, certPem: await signStationCsr(ca, csrPem, stationId, dayMs) };
}

/** A station's TLS connection to the listener, with the ALPN of the channel. */
function dial(port: number, caPem: string, station: Station, alpn: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: caPem,
      cert: station.certPem,
      key: station.keyPem,
      ALPNProtocols: [alpn],
      minVersion: 'TLSv1.3',
    });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Serves HTTP/2 on a tunnel socket as the agent does; resolves with the hub's GOAWAY. */
function nextGoaway(socket: TLSSocket): Promise<{ code: number; text: string }> {
  const session = performServerHandshake(socket);
  session.on('error', () => undefined);
  return new Promise((resolve) => {
    session.once('goaway', (code: number, _last: number, data?: Buffer) =>
      resolve({ code, text: data?.toString('utf8') ?? '' }),
    );
  });
}

async function waitUntil(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 10));
  }
}

describe('station listener', () => {
  let dir: string;
  let store: HubStore;
  let ca: KeyAndCert;
  let registry: TunnelRegistry;
  let journal: TunnelJournal;
  let admission: TunnelAdmission;
  let listener: StationListener;
  let port: number;
  const clock = new ManualClock(Date.now());
  const callHomeSockets: TLSSocket[] = [];
  const uploadSockets: TLSSocket[] = [];
  const stations: Station[] = [];
  /** The CA of the server certificate after the credentials test. */
  let rotatedCaPem = '';
  const peerSockets: TLSSocket[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeline-listener-'));
    store = await openSqliteHubStore(join(dir, 'hub.db'));
    ca = await createCa('Test hub CA', dayMs);
    const server = await issueServerCert(ca, ['127.0.0.1'], dayMs);
    for (let i = 0; i < 3; i += 1) stations.push(await makeStation(ca));
    for (const station of stations) {
      await store.addStation({
        id: station.stationId,
        name: station.stationId,
        enrolledAtMs: clock.now(),
        certNotAfterMs: clock.now() + dayMs,
        lastSeenAtMs: null,
        connectedSinceMs: null,
        revokedAtMs: null,
      });
    }
    const audit = new HubAudit(store, clock, logger);
    journal = new TunnelJournal({ store, nodeId: 'node-test', audit, clock, logger });
    registry = new TunnelRegistry({ clock, logger, events: journal, idleTimeoutMs: 30_000 });
    admission = new TunnelAdmission({ tunnelsPerSecond: 1, clock });
    listener = new StationListener({
      keyPem: server.keyPem,
      certChainPem: server.certPem + ca.certPem,
      caPem: ca.certPem,
      store,
      registry,
      audit,
      admission,
      guard: new ConnectionGuard({
        limits: connectionLimitsOf(hubConnectionsSchema.parse(undefined)),
        listener: 'station port',
        configKey: 'hub.yaml connections',
        logger,
      }),
      logger,
      callHome: (socket) => callHomeSockets.push(socket),
      upload: (socket) => uploadSockets.push(socket),
      peer: (socket) => peerSockets.push(socket),
    });
    port = (await listener.listen({ host: '127.0.0.1', port: 0 })).port;
  });

  after(async () => {
    registry.destroyAll();
    listener.destroyAll();
    await listener.close();
    await journal.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('over the admission rate, a tunnel is told to retry later; within it, it is admitted', async () => {
    const [first, second] = stations;
    assert.ok(first && second);
    const admitted = await dial(port, ca.certPem, first, alpnTunnel);
    void nextGoaway(admitted);
    await waitUntil('the first tunnel', () => registry.has(first.stationId));

    const refused = await dial(port, ca.certPem, second, alpnTunnel);
    const goaway = await nextGoaway(refused);
    assert.equal(goaway.code, h2.NGHTTP2_ENHANCE_YOUR_CALM);
    const match = /^retry-after-ms=(\d+); (.+)$/.exec(goaway.text);
    assert.ok(match, goaway.text);
    const retryAfterMs = Number(match[1]);
    assert.ok(retryAfterMs >= retryAfterMinMs && retryAfterMs <= retryAfterMaxMs, goaway.text);
    assert.match(match[2] ?? '', /at most 1 new tunnels per second/);
    assert.equal(registry.has(second.stationId), false);
    assert.deepEqual(admission.stats(), { admitted: 1, refused: 1 });

    // Call home is not subject to admission.
    const callHome = await dial(port, ca.certPem, second, alpnCallHome);
    await waitUntil('the call-home connection', () => callHomeSockets.length === 1);
    callHome.destroy();

    clock.advance(1000);
    const later = await dial(port, ca.certPem, second, alpnTunnel);
    void nextGoaway(later);
    await waitUntil('the second tunnel, a second later', () => registry.has(second.stationId));
    assert.deepEqual(admission.stats(), { admitted: 2, refused: 1 });
  });

  test("closeStation ends the station's tunnel with the reason, its call-home and upload connections", async () => {
    const station = stations[2];
    assert.ok(station);
    clock.advance(1000);
    const tunnel = await dial(port, ca.certPem, station, alpnTunnel);
    const goaway = nextGoaway(tunnel);
    await waitUntil('the tunnel', () => registry.has(station.stationId));
    const callHome = await dial(port, ca.certPem, station, alpnCallHome);
    const callHomeClosed = new Promise((done) => callHome.once('close', done));
    callHome.on('error', () => undefined);
    await waitUntil('the call-home connection', () => callHomeSockets.length === 2);
    const upload = await dial(port, ca.certPem, station, alpnUpload);
    const uploadClosed = new Promise((done) => upload.once('close', done));
    upload.on('error', () => undefined);
    await waitUntil('the upload connection', () => uploadSockets.length === 1);

    assert.equal(listener.closeStation(station.stationId, 'this station is revoked'), 3);
    assert.deepEqual(await goaway, { code: h2.NGHTTP2_NO_ERROR, text: 'this station is revoked' });
    await callHomeClosed;
    await uploadClosed;
    await waitUntil('the tunnel to go', () => !registry.has(station.stationId));
    assert.equal(listener.closeStation(station.stationId, 'again'), 0, 'nothing left to close');
  });

  test('new credentials apply to new connections, with the same TLS settings', async () => {
    const newCa = await createCa('Rotated hub CA', dayMs);
    rotatedCaPem = newCa.certPem;
    const newServer = await issueServerCert(newCa, ['127.0.0.1'], dayMs);
    const station = stations[0];
    assert.ok(station);
    await assert.rejects(dial(port, newCa.certPem, station, alpnCallHome), 'the old server certificate');

    // Overlap: both CAs verify station certificates; the server presents the new chain.
    listener.setCredentials({
      keyPem: newServer.keyPem,
      certChainPem: newServer.certPem + newCa.certPem,
      caPem: ca.certPem + newCa.certPem,
    });
    const oldCert = await dial(port, newCa.certPem, station, alpnCallHome);
    assert.equal(oldCert.getProtocol(), 'TLSv1.3');
    oldCert.destroy();

    // A certificate from the new CA opens a tunnel (it replaces the station's earlier one).
    const { keyPem, csrPem } = await createKeyAndCsr('station');
    const renewed = {
      ...station,
      keyPem,
      certPem: await signStationCsr(newCa, csrPem, station.stationId, dayMs),
    };
    clock.advance(1000);
    const before = registry.connectedSince(station.stationId);
    const tunnel = await dial(port, newCa.certPem, renewed, alpnTunnel);
    void nextGoaway(tunnel);
    await waitUntil(
      'the tunnel with the new certificate',
      () => registry.connectedSince(station.stationId) !== before,
    );

    // TLS 1.3 only, still.
    await assert.rejects(
      new Promise((resolve, reject) => {
        const socket = tlsConnect({
          host: '127.0.0.1',
          port,
          ca: newCa.certPem,
          cert: station.certPem,
          key: station.keyPem,
          ALPNProtocols: [alpnCallHome],
          maxVersion: 'TLSv1.2',
        });
        socket.once('secureConnect', () => resolve(socket));
        socket.once('error', reject);
      }),
    );
  });

  test("a certificate not from the hub's CA is refused without using the stations' admission", async () => {
    const strangerCa = await createCa('Someone else', dayMs);
    const stranger = await makeStation(strangerCa);
    const serverCaPem = rotatedCaPem;
    const before = admission.stats();
    const refusals = await Promise.all(
      [1, 2, 3].map(async () => nextGoaway(await dial(port, serverCaPem, stranger, alpnTunnel))),
    );
    for (const goaway of refusals) {
      assert.equal(goaway.code, h2.NGHTTP2_INADEQUATE_SECURITY);
      assert.match(goaway.text, /the station certificate is not accepted/);
    }
    assert.deepEqual(admission.stats(), before);
  });

  test('a link from another hub node needs a node certificate of the hub CA: a station certificate is refused', async () => {
    const node = await issueNodeCert(ca, '4f2d9a7e-0000-4000-8000-000000000001', dayMs);
    const linked = await dial(port, rotatedCaPem, { stationId: 'node', ...node }, alpnPeer);
    await waitUntil('the link to be handed over', () => peerSockets.length === 1);
    assert.equal(linked.alpnProtocol, alpnPeer);
    linked.destroy();

    const station = stations[0];
    assert.ok(station);
    const refused = await dial(port, rotatedCaPem, station, alpnPeer);
    await new Promise((resolve) => refused.once('close', resolve));
    assert.equal(peerSockets.length, 1, 'a station cannot pass for a hub node');
  });
});
