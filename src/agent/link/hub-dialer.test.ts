// The dialer against real TLS on loopback: a dead first endpoint costs no backoff (the second is
// dialled at once), a silent one costs failoverAfter, the preferred endpoint is taken back when a
// probe reaches it, and a proxy's CONNECT carries the TLS handshake, with its 407 kept for status.
// Each way a dial fails (refused, untrusted, expired or misnamed certificate, another ALPN, not TLS,
// silence, a reset) is a LINK_* code with Node's error as the cause.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TlsOptions } from 'node:tls';
import { LifelineError } from '../../common/errors.js';
import {
  createCa,
  createKeyAndCsr,
  issueServerCert,
  signStationCsr,
  type KeyAndCert,
} from '../../pki/index.js';
import { alpnCallHome, alpnTunnel } from '../../protocol/index.js';
import { HubDialer, dialOrder, type DialedHubEndpoint } from './hub-dialer.js';
import type { ProxySettings } from './proxy-config.js';

const day = 86_400_000;
let ca: KeyAndCert;
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
  ca = await createCa('test CA', day);
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

/** A TLS server that completes handshakes with `options` and then holds the connection. */
async function tlsServer(cert: KeyAndCert, options: TlsOptions = {}): Promise<number> {
  const server = createTlsServer({ key: cert.keyPem, cert: cert.certPem, ...options }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);
  return listen(server);
}

/** One dial of `endpoint` (after `setup`): the error it rejects with. */
async function dialFailure(
  endpoint: string,
  options: { serverName?: string; connectTimeoutMs?: number; signal?: AbortSignal } = {},
): Promise<LifelineError> {
  const dialer = new HubDialer({
    endpoints: [endpoint],
    serverName: options.serverName,
    credentials: () => credentials,
    ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
  });
  try {
    const dialed = await dialer.dial(alpnCallHome, options.signal);
    dialed.socket.destroy();
    throw new Error(`${endpoint} was dialled`);
  } catch (err) {
    if (!(err instanceof LifelineError)) throw err;
    // What status shows is the same error.
    assert.equal(dialer.status()[0]?.lastErrorCode, err.code);
    assert.equal(dialer.status()[0]?.lastError, err.message);
    return err;
  } finally {
    dialer.close();
  }
}

function causeCode(err: LifelineError): unknown {
  return (err.cause as { code?: unknown } | undefined)?.code;
}

test('a refused connection is LINK_REFUSED, with ECONNREFUSED as the cause', async () => {
  const port = await freePort();
  const err = await dialFailure(`127.0.0.1:${port}`);
  assert.equal(err.code, 'LINK_REFUSED');
  assert.equal(causeCode(err), 'ECONNREFUSED');
  assert.equal(err.message, `connection refused by 127.0.0.1:${port}: the hub is not listening there`);
});

test('a hub certificate from another CA is LINK_TLS_UNTRUSTED: not issued by the pinned hub CA', async () => {
  const other = await createCa('another CA', day);
  const port = await tlsServer(await issueServerCert(other, ['127.0.0.1'], day), {
    ALPNProtocols: [alpnCallHome],
  });
  const err = await dialFailure(`127.0.0.1:${port}`);
  assert.equal(err.code, 'LINK_TLS_UNTRUSTED');
  assert.equal(causeCode(err), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  assert.equal(err.message, `the hub certificate at 127.0.0.1:${port} is not issued by the pinned hub CA`);
});

test('a hub chain up to a self-signed root other than the pinned CA is LINK_TLS_UNTRUSTED', async () => {
  const other = await createCa('another root', day);
  const leaf = await issueServerCert(other, ['127.0.0.1'], day);
  const port = await tlsServer(
    { keyPem: leaf.keyPem, certPem: leaf.certPem + other.certPem },
    { ALPNProtocols: [alpnCallHome] },
  );
  const err = await dialFailure(`127.0.0.1:${port}`);
  assert.equal(err.code, 'LINK_TLS_UNTRUSTED');
  assert.equal(causeCode(err), 'SELF_SIGNED_CERT_IN_CHAIN');
  assert.equal(err.message, `the hub certificate at 127.0.0.1:${port} is not issued by the pinned hub CA`);
});

test('a hub certificate for another name is LINK_TLS_UNTRUSTED: it does not name this address', async () => {
  const port = await tlsServer(await issueServerCert(ca, ['hub.example'], day), {
    ALPNProtocols: [alpnCallHome],
  });
  const err = await dialFailure(`127.0.0.1:${port}`);
  assert.equal(err.code, 'LINK_TLS_UNTRUSTED');
  assert.equal(causeCode(err), 'ERR_TLS_CERT_ALTNAME_INVALID');
  assert.equal(err.message, `the hub certificate at 127.0.0.1:${port} does not name this hub address`);
  // With hub.serverName naming the certificate's host, the endpoint's address is still what is
  // dialled (the name need not resolve), and the certificate verifies.
  const dialer = new HubDialer({
    endpoints: [`127.0.0.1:${port}`],
    serverName: 'hub.example',
    credentials: () => credentials,
  });
  try {
    const dialed = await dialer.dial(alpnCallHome);
    assert.ok(dialed.socket.authorized);
    dialed.socket.destroy();
  } finally {
    dialer.close();
  }
});

test('an expired hub certificate is LINK_TLS_UNTRUSTED: it has expired', async () => {
  const port = await tlsServer(await issueServerCert(ca, ['127.0.0.1'], 1000, Date.now() - day), {
    ALPNProtocols: [alpnCallHome],
  });
  const err = await dialFailure(`127.0.0.1:${port}`);
  assert.equal(err.code, 'LINK_TLS_UNTRUSTED');
  assert.equal(causeCode(err), 'CERT_HAS_EXPIRED');
  assert.equal(err.message, `the hub certificate at 127.0.0.1:${port} has expired`);
});

test('a server that selects another ALPN, or none, is LINK_ALPN', async () => {
  const serverCert = await issueServerCert(ca, ['127.0.0.1'], day);
  // Another protocol only: the server ends the handshake with a no_application_protocol alert.
  const other = await tlsServer(serverCert, { ALPNProtocols: ['other/1'] });
  const refused = await dialFailure(`127.0.0.1:${other}`);
  assert.equal(refused.code, 'LINK_ALPN');
  assert.equal(causeCode(refused), 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
  assert.match(refused.message, /accepts none of the protocols offered \(h2; .*no application protocol\)/);
  // No ALPN at all: the handshake completes, and the dialer finds no protocol agreed.
  const none = await tlsServer(serverCert);
  const unagreed = await dialFailure(`127.0.0.1:${none}`);
  assert.equal(unagreed.code, 'LINK_ALPN');
  assert.match(unagreed.message, /did not agree to the protocol h2 \(ALPN false\): is this a Lifeline hub\?/);
});

test('a server that does not speak TLS is LINK_TLS_FAILED', async () => {
  const port = await listen(
    createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'));
    }),
  );
  const err = await dialFailure(`127.0.0.1:${port}`);
  assert.equal(err.code, 'LINK_TLS_FAILED');
  assert.equal(causeCode(err), 'ERR_SSL_WRONG_VERSION_NUMBER');
  assert.match(err.message, /the TLS handshake with 127\.0\.0\.1:\d+ failed \(wrong version number\)/);
});

test('a server that says nothing is LINK_TIMEOUT after connectTimeout; one that hangs up is LINK_RESET', async () => {
  const silent = await listen(
    createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    }),
  );
  const timedOut = await dialFailure(`127.0.0.1:${silent}`, { connectTimeoutMs: 200 });
  assert.equal(timedOut.code, 'LINK_TIMEOUT');
  assert.match(timedOut.message, /no TLS connection to 127\.0\.0\.1:\d+ within 200 ms/);

  const hangUp = await listen(
    createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.destroy());
    }),
  );
  const reset = await dialFailure(`127.0.0.1:${hangUp}`);
  assert.equal(reset.code, 'LINK_RESET');
  assert.equal(causeCode(reset), 'ECONNRESET');
});

test('a dial the caller aborts rejects with the abort reason, and leaves no verdict on the endpoint', async () => {
  const silent = await listen(
    createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    }),
  );
  const dialer = new HubDialer({
    endpoints: [`127.0.0.1:${silent}`],
    serverName: undefined,
    credentials: () => credentials,
  });
  try {
    const abort = new AbortController();
    const dialing = dialer.dial(alpnCallHome, abort.signal);
    abort.abort();
    await assert.rejects(dialing, { name: 'AbortError' });
    assert.deepEqual(
      dialer.status().map((e) => [e.state, e.lastErrorCode]),
      [['untried', null]],
    );
  } finally {
    dialer.close();
  }
});

test("with several endpoints, the round fails with the last one's code and every reason", async () => {
  const refusedPort = await freePort();
  const other = await createCa('another CA', day);
  const untrusted = await tlsServer(await issueServerCert(other, ['127.0.0.1'], day), {
    ALPNProtocols: [alpnCallHome],
  });
  const dialer = new HubDialer({
    endpoints: [`127.0.0.1:${refusedPort}`, `127.0.0.1:${untrusted}`],
    serverName: undefined,
    credentials: () => credentials,
  });
  try {
    await assert.rejects(dialer.dial(alpnCallHome), (err: unknown) => {
      assert.ok(err instanceof LifelineError);
      assert.equal(err.code, 'LINK_TLS_UNTRUSTED');
      assert.match(
        err.message,
        /^no hub endpoint worked: .*connection refused by .*; .*not issued by the pinned hub CA$/,
      );
      return true;
    });
    assert.deepEqual(
      dialer.status().map((e) => e.lastErrorCode),
      ['LINK_REFUSED', 'LINK_TLS_UNTRUSTED'],
    );
  } finally {
    dialer.close();
  }
});

test('the dial order: the endpoint in use first; past a draining one, the next one, the draining last', () => {
  assert.deepEqual(dialOrder(3, 0, new Set()), [0, 1, 2]);
  assert.deepEqual(dialOrder(3, 2, new Set()), [2, 0, 1]);
  // The node at the endpoint in use drains: the next address in the list, round the end.
  assert.deepEqual(dialOrder(3, 0, new Set([0])), [1, 2, 0]);
  assert.deepEqual(dialOrder(3, 1, new Set([1])), [2, 0, 1]);
  assert.deepEqual(dialOrder(3, 2, new Set([2])), [0, 1, 2]);
  // Two draining: the one left first; all draining: still every endpoint, the next one first.
  assert.deepEqual(dialOrder(3, 0, new Set([0, 1])), [2, 1, 0]);
  assert.deepEqual(dialOrder(2, 0, new Set([0, 1])), [1, 0]);
  // One address: it is all there is.
  assert.deepEqual(dialOrder(1, 0, new Set([0])), [0]);
});

test('an avoided endpoint (its node drains) is dialled after the next one and never probed back', async () => {
  const secondPort = await listen(createServer((socket) => pipeTo(hubPort, socket)));
  const dialer = new HubDialer({
    endpoints: [`127.0.0.1:${hubPort}`, `127.0.0.1:${secondPort}`],
    serverName: undefined,
    credentials: () => credentials,
    failbackIntervalMs: 100,
  });
  const single = new HubDialer({
    endpoints: [`127.0.0.1:${hubPort}`],
    serverName: undefined,
    credentials: () => credentials,
  });
  try {
    const first = await dialer.dial(alpnTunnel);
    assert.equal(first.index, 0);
    first.socket.destroy();
    assert.equal(dialer.avoid(0, 60_000), true, 'another endpoint is there to go to');
    const moved = await dialer.dial(alpnTunnel);
    assert.equal(moved.index, 1, 'the next address, though the first one answers');
    moved.socket.destroy();
    let failedBack = false;
    dialer.on('failback', () => (failedBack = true));
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(failedBack, false, 'probes leave the draining endpoint alone');
    assert.equal(dialer.current.index, 1);

    assert.equal(single.avoid(0, 60_000), false, 'no other endpoint');
    const same = await single.dial(alpnTunnel);
    assert.equal(same.index, 0);
    same.socket.destroy();
  } finally {
    dialer.close();
    single.close();
  }
});
