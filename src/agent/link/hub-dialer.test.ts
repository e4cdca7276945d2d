// The dialer against real TLS on loopback: a dead first endpoint costs no backoff (the second is
// dialled at once), a silent one costs failoverAfter, the preferred endpoint is taken back when a
// probe reaches it, and a proxy's CONNECT carries the TLS handshake, with its 407 kept for status.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { createCa, createKeyAndCsr, issueServerCert, signStationCsr } from '../../pki/index.js';
import { alpnCallHome, alpnTunnel } from '../../protocol/index.js';
import { HubDialer, type DialedHubEndpoint } from './hub-dialer.js';
import type { ProxySettings } from './proxy-config.js';

const day = 86_400_000;
let credentials: { caPem: string; certPem: string; keyPem: string };
let hub: TlsServer;
let hubPort: number;
const servers: (Server | TlsServer)[] = [];
const sockets = new Set<Socket>();

async function listen(server: Server | TlsServer, port = 0): Promise<number> {
  servers.push(server);
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

function pipeTo(port: number, socket: Socket, head?: Buffer): void {
  sockets.add(socket);
  socket.on('error', () => undefined);
  const upstream = connect({ host: '127.0.0.1', port });
  sockets.add(upstream);
  upstream.on('error', () => socket.destroy());
  if (head && head.length > 0) upstream.write(head);
  socket.pipe(upstream).pipe(socket);
}

/** A CONNECT proxy: `answer` decides the status; on 200 it pipes to the requested port. */
function connectProxy(answer: (head: string) => string): Server {
  return createServer((socket) => {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const text = head.subarray(0, end).toString('latin1');
      const status = answer(text);
      socket.write(`${status}\r\n\r\n`);
      if (!status.includes(' 200 ')) {
        socket.end();
        return;
      }
      const port = Number(/^CONNECT [^ ]+:(\d+) /.exec(text)?.[1]);
      pipeTo(port, socket, head.subarray(end + 4));
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  });
}

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
    ALPNProtocols: [alpnCallHome, alpnTunnel],
  });
  hub.on('secureConnection', (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  hubPort = await listen(hub);
});

after(() => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) server.close();
});

test('a dead first endpoint: the second is dialled at once; the first is taken back when it answers', async () => {
  const firstPort = await freePort();
  const dialer = new HubDialer({
    endpoints: [`127.0.0.1:${firstPort}`, `127.0.0.1:${hubPort}`],
    serverName: undefined,
    credentials: () => credentials,
    failbackIntervalMs: 200,
  });
  try {
    const started = performance.now();
    const dialed = await dialer.dial(alpnTunnel);
    assert.ok(performance.now() - started < 1000);
    assert.equal(dialed.index, 1);
    assert.equal(dialed.socket.alpnProtocol, alpnTunnel);
    dialed.socket.destroy();
    const [first, second] = dialer.status();
    assert.equal(first?.state, 'failed');
    assert.match(first?.lastError ?? '', new RegExp(`connection refused by 127\\.0\\.0\\.1:${firstPort}`));
    assert.equal(second?.state, 'in-use');
    assert.equal(second?.via, 'direct');

    // The first endpoint comes back (a forwarder to the same hub): the next probe takes it.
    await listen(
      createServer((socket) => pipeTo(hubPort, socket)),
      firstPort,
    );
    const [back] = (await once(dialer, 'failback', { signal: AbortSignal.timeout(3000) })) as [
      DialedHubEndpoint,
    ];
    assert.deepEqual(back, { index: 0, endpoint: `127.0.0.1:${firstPort}` });
    assert.deepEqual(
      dialer.status().map((e) => e.state),
      ['in-use', 'standby'],
    );
    const again = await dialer.dial(alpnCallHome);
    assert.equal(again.index, 0);
    again.socket.destroy();
  } finally {
    dialer.close();
  }
});

test('a first endpoint that never answers: the second is dialled beside it after failoverAfter, not after the connect timeout', async () => {
  // Accepts TCP and says nothing, as a host that swallows the handshake would.
  const held: Socket[] = [];
  let blackholeClosed = 0;
  const blackholePort = await listen(
    createServer((socket) => {
      held.push(socket);
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => (blackholeClosed += 1));
      socket.resume(); // reads (and drops) the ClientHello, so the client's close is seen
    }),
  );
  const dialer = new HubDialer({
    endpoints: [`127.0.0.1:${blackholePort}`, `127.0.0.1:${hubPort}`],
    serverName: undefined,
    credentials: () => credentials,
    connectTimeoutMs: 60_000,
    failoverAfterMs: 100,
  });
  try {
    const dialed = await dialer.dial(alpnCallHome, AbortSignal.timeout(30_000));
    assert.equal(dialed.index, 1);
    assert.equal(dialed.socket.alpnProtocol, alpnCallHome);
    dialed.socket.destroy();
    // The attempt still waiting on the first endpoint was dropped, with no verdict on it.
    for (let tries = 0; tries < 100 && blackholeClosed < held.length; tries++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(held.length, 1);
    assert.equal(blackholeClosed, 1);
    assert.deepEqual(
      dialer.status().map((e) => [e.state, e.lastError]),
      [
        ['untried', null],
        ['in-use', null],
      ],
    );
  } finally {
    dialer.close();
  }
});

test('a healthy first endpoint is the only one dialled', async () => {
  let forwarded = 0;
  const secondPort = await listen(
    createServer((socket) => {
      forwarded += 1;
      pipeTo(hubPort, socket);
    }),
  );
  const dialer = new HubDialer({
    endpoints: [`127.0.0.1:${hubPort}`, `127.0.0.1:${secondPort}`],
    serverName: undefined,
    credentials: () => credentials,
    failoverAfterMs: 50,
  });
  try {
    const dialed = await dialer.dial(alpnCallHome);
    assert.equal(dialed.index, 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    dialed.socket.destroy();
    assert.equal(forwarded, 0, 'no connection to the second endpoint');
    assert.deepEqual(
      dialer.status().map((e) => e.state),
      ['in-use', 'untried'],
    );
  } finally {
    dialer.close();
  }
});

test('through a proxy: TLS runs on the CONNECT tunnel; a 407 is kept for status, without the password', async () => {
  let wantPassword = 'right';
  const heads: string[] = [];
  const proxyPort = await listen(
    connectProxy((head) => {
      heads.push(head);
      const expected = `Basic ${Buffer.from(`appliance:${wantPassword}`).toString('base64')}`;
      return head.includes(`Proxy-Authorization: ${expected}`)
        ? 'HTTP/1.1 200 Connection established'
        : 'HTTP/1.1 407 Proxy Authentication Required';
    }),
  );
  const proxy: ProxySettings = {
    address: { host: '127.0.0.1', port: proxyPort },
    username: 'appliance',
    password: 'right',
    source: 'agent.yaml',
    noProxy: [],
  };
  const dialer = new HubDialer({
    endpoints: [`127.0.0.1:${hubPort}`],
    serverName: undefined,
    credentials: () => credentials,
    proxy,
  });
  try {
    const dialed = await dialer.dial(alpnCallHome);
    assert.equal(dialed.socket.alpnProtocol, alpnCallHome);
    assert.ok(dialed.socket.authorized, 'the hub certificate was checked against the pinned CA');
    dialed.socket.destroy();
    assert.match(heads[0] ?? '', new RegExp(`^CONNECT 127\\.0\\.0\\.1:${hubPort} HTTP/1\\.1`));
    assert.equal(dialer.status()[0]?.via, 'proxy');
    assert.equal(dialer.proxyStatus()?.lastError, null);

    wantPassword = 'changed';
    await assert.rejects(dialer.dial(alpnCallHome), { code: 'PROXY_AUTH_REQUIRED' });
    const status = dialer.proxyStatus();
    assert.equal(status?.url, `http://127.0.0.1:${proxyPort}`);
    assert.equal(status?.lastErrorCode, 'PROXY_AUTH_REQUIRED');
    assert.match(status?.lastError ?? '', /asks for authentication/);
    assert.ok(!JSON.stringify([status, dialer.status()]).includes('right'));
    assert.equal(dialer.status()[0]?.state, 'failed');
  } finally {
    dialer.close();
  }
});
