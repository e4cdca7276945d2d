// The connection guard on real loopback sockets (plain TCP, TLS with the station port's settings,
// HTTP/1.1), its deadlines moved by a manual clock and checked with sweep().

import 'reflect-metadata';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { ManualClock } from '../clock.js';
import type { BodyWatch } from './connection-guard.js';
import { ConnectionGuard, type ConnectionLimits } from './connection-guard.js';
import { silentLogger } from '../logger.js';
import { createCa, issueServerCert, type KeyAndCert } from '../../pki/index.js';
import { stationPortTls } from '../../protocol/index.js';

const limits: ConnectionLimits = {
  handshakeTimeoutMs: 10_000,
  unauthenticatedTimeoutMs: 20_000,
  headersTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  minBodyBytesPerSecond: 100,
  bodyRateWindowMs: 10_000,
  maxUnauthenticatedPerAddress: 3,
  maxUnauthenticated: 5,
};

function guardWith(clock: ManualClock, changes: Partial<ConnectionLimits> = {}): ConnectionGuard {
  return new ConnectionGuard({
    limits: { ...limits, ...changes },
    listener: 'test',
    configKey: 'test.yaml connections',
    logger: silentLogger(),
    clock,
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

/** A TCP connection from `localAddress`, once connected. */
function tcp(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1', localAddress });
    socket.on('error', () => undefined);
    watchClose(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

const closeWatches = new WeakMap<Socket, { closed: () => boolean; done: Promise<void> }>();

/** Resolves when the socket has closed; `closed` tells without waiting. Watched from its creation. */
function watchClose(socket: Socket): { closed: () => boolean; done: Promise<void> } {
  const known = closeWatches.get(socket);
  if (known) return known;
  let closed = socket.destroyed;
  const done = closed
    ? Promise.resolve()
    : new Promise<void>((resolve) =>
        socket.once('close', () => {
          closed = true;
          resolve();
        }),
      );
  const watch = { closed: () => closed, done };
  closeWatches.set(socket, watch);
  return watch;
}

/** Lets the event loop deliver what is in flight (accepts, closes) a few times over. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('caps on unauthenticated connections', () => {
  const servers: Server[] = [];
  after(() => servers.forEach((s) => s.close()));

  test('past the per-address cap, the oldest of that address is closed for the new one', async () => {
    const clock = new ManualClock();
    const guard = guardWith(clock);
    const server = createNetServer();
    servers.push(server);
    guard.attach(server, { tls: false, http1: 'none' });
    const port = await listen(server);
    const sockets: Socket[] = [];
    for (let i = 0; i < 5; i++) {
      sockets.push(await tcp(port));
      clock.advance(1);
      await settle();
    }
    const watches = sockets.map(watchClose);
    await Promise.all(watches.slice(0, 2).map((w) => w.done));
    await settle();
    assert.deepEqual(
      watches.map((w) => w.closed()),
      [true, true, false, false, false],
    );
    assert.equal(guard.stats().closed['address-limit'], 2);
    assert.equal(guard.stats().unauthenticated, 3);
    sockets.forEach((s) => s.destroy());
    guard.close();
  });

  test('past the total cap, the oldest of any address goes; another address keeps its own', async () => {
    const clock = new ManualClock();
    const guard = guardWith(clock);
    const server = createNetServer();
    servers.push(server);
    guard.attach(server, { tls: false, http1: 'none' });
    const port = await listen(server);
    const sockets: Socket[] = [];
    for (const from of ['127.0.0.2', '127.0.0.2', '127.0.0.2', '127.0.0.3', '127.0.0.3', '127.0.0.4']) {
      sockets.push(await tcp(port, from));
      clock.advance(1);
      await settle();
    }
    const watches = sockets.map(watchClose);
    await watches[0]?.done;
    await settle();
    assert.deepEqual(
      watches.map((w) => w.closed()),
      [true, false, false, false, false, false],
    );
    assert.equal(guard.stats().closed['total-limit'], 1);
    assert.equal(guard.stats().closed['address-limit'], 0);
    sockets.forEach((s) => s.destroy());
    guard.close();
  });

  test('an authenticated connection no longer counts, nor is it closed for a newcomer', async () => {
    const clock = new ManualClock();
    const guard = guardWith(clock, { maxUnauthenticatedPerAddress: 1, maxUnauthenticated: 1 });
    const server = createNetServer();
    servers.push(server);
    const accepted: Socket[] = [];
    guard.attach(server, { tls: false, http1: 'none' });
    server.on('connection', (socket) => accepted.push(socket));
    const port = await listen(server);
    const first = await tcp(port);
    await settle();
    const firstAccepted = accepted[0];
    assert.ok(firstAccepted);
    guard.authenticated(firstAccepted);
    assert.equal(guard.stats().unauthenticated, 0);
    const second = await tcp(port);
    await settle();
    assert.equal(guard.stats().unauthenticated, 1);
    clock.advance(limits.unauthenticatedTimeoutMs);
    guard.sweep();
    await watchClose(second).done;
    await settle();
    assert.equal(first.destroyed, false, 'the authenticated connection stays');
    assert.equal(guard.stats().closed['unauthenticated-timeout'], 1);
    first.destroy();
    guard.close();
  });
});

describe('deadlines on TLS connections', () => {
  let ca: KeyAndCert;
  let server: KeyAndCert;
  before(async () => {
    ca = await createCa('guard test CA', 3_600_000);
    server = await issueServerCert(ca, ['localhost', '127.0.0.1'], 3_600_000);
  });

  function tlsServer(guard: ConnectionGuard) {
    const tls = createTlsServer({
      key: server.keyPem,
      cert: server.certPem,
      ...stationPortTls,
      ALPNProtocols: ['proven', 'stranger'],
    });
    guard.attach(tls, { tls: true, http1: 'none' });
    return tls;
  }

  test('a connection that sends nothing, or half a ClientHello, is closed at the handshake deadline', async () => {
    const clock = new ManualClock();
    const guard = guardWith(clock);
    const tls = tlsServer(guard);
    const port = await listen(tls);
    const silent = await tcp(port);
    const half = await tcp(port);
    // A TLS record header announcing 512 bytes of handshake, and 4 of them.
    half.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]));
    await settle();
    clock.advance(limits.handshakeTimeoutMs - 1);
    guard.sweep();
    await settle();
    assert.equal(silent.destroyed || half.destroyed, false, 'nothing closes before the deadline');
    clock.advance(1);
    guard.sweep();
    await Promise.all([watchClose(silent).done, watchClose(half).done]);
    assert.equal(guard.stats().closed['handshake-timeout'], 2);
    assert.equal(guard.stats().unauthenticated, 0);
    tls.close();
    guard.close();
  });

  test('a handshake that fails (a finite-field group only) is closed and counted', async () => {
    const clock = new ManualClock();
    const guard = guardWith(clock);
    const tls = tlsServer(guard);
    const port = await listen(tls);
    const client = tlsConnect({
      port,
      host: '127.0.0.1',
      ca: ca.certPem,
      servername: 'localhost',
      ecdhCurve: 'ffdhe2048',
      minVersion: 'TLSv1.3',
    });
    const failed = await new Promise<Error>((resolve) => client.once('error', resolve));
    assert.match(failed.message, /handshake failure|alert/i);
    await settle();
    assert.equal(guard.stats().closed['handshake-failed'], 1);
    assert.equal(guard.stats().unauthenticated, 0);
    tls.close();
    guard.close();
  });

  test('after the handshake, an unauthenticated connection is closed at its deadline; an authenticated one stays', async () => {
    const clock = new ManualClock();
    const guard = guardWith(clock);
    const tls = tlsServer(guard);
    tls.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'proven') guard.authenticated(socket);
    });
    const port = await listen(tls);
    const dial = (alpn: string) =>
      new Promise<TLSSocket>((resolve, reject) => {
        const socket = tlsConnect({
          port,
          host: '127.0.0.1',
          ca: ca.certPem,
          servername: 'localhost',
          ALPNProtocols: [alpn],
        });
        socket.on('error', () => undefined);
        watchClose(socket);
        socket.once('secureConnect', () => resolve(socket));
        socket.once('error', reject);
      });
    const proven = await dial('proven');
    const stranger = await dial('stranger');
    await settle();
    assert.equal(guard.stats().unauthenticated, 1);
    clock.advance(limits.unauthenticatedTimeoutMs);
    guard.sweep();
    await watchClose(stranger).done;
    await settle();
    assert.equal(proven.destroyed, false);
    assert.equal(guard.stats().closed['unauthenticated-timeout'], 1);
    proven.destroy();
    tls.close();
    guard.close();
  });
});

describe('HTTP/1.1 keep-alive and headers', () => {
  let http: HttpServer;
  let guard: ConnectionGuard;
  let port = 0;
  const clock = new ManualClock();

  before(async () => {
    guard = guardWith(clock);
    http = createHttpServer((request, response) => {
      guard.authenticated(request.socket);
      response.end('ok');
    });
    guard.attach(http, { tls: false, http1: 'all' });
    port = await listen(http);
  });

  after(() => {
    http.closeAllConnections();
    http.close();
    guard.close();
  });

  /** A keep-alive connection that has had one answer. */
  async function answered(): Promise<Socket> {
    const socket = await tcp(port);
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    await settle();
    return socket;
  }

  test('a keep-alive connection with no next request is closed at the idle deadline', async () => {
    const socket = await answered();
    clock.advance(limits.idleTimeoutMs - 1);
    guard.sweep();
    await settle();
    assert.equal(socket.destroyed, false);
    clock.advance(1);
    guard.sweep();
    await watchClose(socket).done;
    assert.equal(guard.stats().closed['idle-timeout'], 1);
  });

  test('a request whose headers trickle in is closed at the headers deadline, from its first byte', async () => {
    const socket = await answered();
    clock.advance(limits.idleTimeoutMs - 1000);
    socket.write('GET / HTTP/1.1\r\n');
    await settle();
    guard.sweep();
    clock.advance(limits.headersTimeoutMs - 1);
    socket.write('x-slow: 1\r\n');
    await settle();
    guard.sweep();
    assert.equal(socket.destroyed, false, 'the idle deadline no longer applies once a request began');
    clock.advance(1);
    guard.sweep();
    await watchClose(socket).done;
    assert.equal(guard.stats().closed['headers-timeout'], 1);
  });

  test('an answered request starts the idle deadline anew', async () => {
    const socket = await answered();
    clock.advance(limits.idleTimeoutMs - 1);
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    await settle();
    clock.advance(limits.idleTimeoutMs - 1);
    guard.sweep();
    await settle();
    assert.equal(socket.destroyed, false);
    socket.destroy();
  });
});

describe('body progress', () => {
  test('a body under the minimum rate over a window is cut; one at the rate is not', () => {
    const clock = new ManualClock();
    const guard = guardWith(clock);
    let slowCut = 0;
    let fastCut = 0;
    const slow = guard.watchBody({}, () => (slowCut += 1));
    const fast = guard.watchBody({}, () => (fastCut += 1));
    for (let second = 0; second < 30; second++) {
      slow.received(limits.minBodyBytesPerSecond - 1);
      fast.received(limits.minBodyBytesPerSecond);
      clock.advance(1000);
      guard.sweep();
    }
    assert.equal(slowCut, 1, 'cut once, at the end of the first window');
    assert.equal(fastCut, 0);
    assert.equal(guard.stats().closed['body-too-slow'], 1);
    fast.done();
  });

  test('a stall beyond one window is cut even after a fast start', () => {
    const clock = new ManualClock();
    const guard = guardWith(clock);
    let cut = 0;
    const watch = guard.watchBody({}, () => (cut += 1));
    watch.received(1_000_000);
    clock.advance(limits.bodyRateWindowMs);
    guard.sweep();
    assert.equal(cut, 0);
    clock.advance(limits.bodyRateWindowMs);
    guard.sweep();
    assert.equal(cut, 1);
  });

  test('time in which the server is not reading does not count against the client', () => {
    const clock = new ManualClock();
    const guard = guardWith(clock);
    let cut = 0;
    const watch: BodyWatch = guard.watchBody({}, () => (cut += 1));
    let serverBusy = true;
    watch.exempt = () => serverBusy;
    for (let i = 0; i < 10; i++) {
      clock.advance(limits.bodyRateWindowMs);
      guard.sweep();
    }
    assert.equal(cut, 0);
    serverBusy = false;
    clock.advance(limits.bodyRateWindowMs);
    guard.sweep();
    assert.equal(cut, 1, 'once the server reads again, the window runs');
  });
});
