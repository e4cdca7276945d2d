// CONNECT through a proxy, against small real proxies on loopback that answer as told: the request's
// bytes, a 200 with tunnelled bytes right behind it, 407, another refusal, nothing listening.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { LifelineError } from '../../common/errors.js';
import type { ProxySettings } from './proxy-config.js';
import { connectRequest, connectThroughProxy, parseStatusLine } from './proxy-connect.js';

const servers: Server[] = [];

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}
after(() => servers.forEach((s) => s.close()));

/** A proxy that records the request head and answers with `answer` (in as many writes as given). */
async function fakeProxy(answer: (string | Buffer)[]): Promise<{ port: number; heads: string[] }> {
  const heads: string[] = [];
  const server = createServer((socket: Socket) => {
    let head = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      heads.push(head);
      socket.removeAllListeners('data');
      // Each part in its own write, a little apart: the client must reassemble the header block.
      void (async () => {
        for (const part of answer) {
          socket.write(part);
          await new Promise((done) => setTimeout(done, 10));
        }
      })();
    });
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { port: (server.address() as AddressInfo).port, heads };
}

const proxyAt = (port: number, auth = true): ProxySettings => ({
  address: { host: '127.0.0.1', port },
  ...(auth ? { username: 'appliance', password: 'se:cret' } : {}),
  source: 'agent.yaml',
  noProxy: [],
});

const target = { host: 'hub.example.com', port: 8443 };

test('the request names the target in CONNECT and Host, with basic authentication when configured', () => {
  assert.equal(
    connectRequest(target, { username: 'appliance', password: 'se:cret' }),
    'CONNECT hub.example.com:8443 HTTP/1.1\r\nHost: hub.example.com:8443\r\n' +
      `Proxy-Authorization: Basic ${Buffer.from('appliance:se:cret').toString('base64')}\r\n\r\n`,
  );
  assert.equal(
    connectRequest({ host: '::1', port: 443 }, {}),
    'CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n',
  );
});

test('status lines', () => {
  assert.deepEqual(parseStatusLine('HTTP/1.1 200 Connection established'), {
    status: 200,
    line: 'HTTP/1.1 200 Connection established',
  });
  assert.equal(parseStatusLine('HTTP/1.0 407')?.status, 407);
  assert.equal(parseStatusLine('SSH-2.0-OpenSSH_9.2'), undefined);
  assert.equal(parseStatusLine('HTTP/2 200'), undefined);
});

test('200: the socket is handed over with the bytes after the header block put back', async () => {
  const proxy = await fakeProxy([
    'HTTP/1.1 200 Conn',
    'ection established\r\nVia: test\r\n',
    Buffer.concat([Buffer.from('\r\n'), Buffer.from('hub bytes')]),
  ]);
  const socket = await connectThroughProxy({ proxy: proxyAt(proxy.port), target, timeoutMs: 2000 });
  try {
    assert.match(proxy.heads[0] ?? '', /^CONNECT hub\.example\.com:8443 HTTP\/1\.1\r\n/);
    assert.match(proxy.heads[0] ?? '', /Proxy-Authorization: Basic /);
    socket.resume();
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    assert.equal(chunk.toString(), 'hub bytes');
  } finally {
    socket.destroy();
  }
});

test('407: PROXY_AUTH_REQUIRED says the proxy asks for authentication and which keys to check', async () => {
  const proxy = await fakeProxy([
    'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n',
  ]);
  await assert.rejects(
    connectThroughProxy({ proxy: proxyAt(proxy.port), target, timeoutMs: 2000 }),
    (err: unknown) =>
      err instanceof LifelineError &&
      err.code === 'PROXY_AUTH_REQUIRED' &&
      err.httpStatus === 407 &&
      err.message.includes(`the proxy http://127.0.0.1:${proxy.port} asks for authentication`) &&
      err.message.includes('proxy.username and proxy.passwordFile') &&
      !err.message.includes('se:cret'),
  );
  await assert.rejects(
    connectThroughProxy({ proxy: proxyAt(proxy.port, false), target, timeoutMs: 2000 }),
    /no proxy credentials are configured; set proxy\.username and proxy\.passwordFile/,
  );
});

test('the password file is read at every CONNECT: a rotated password is sent without a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-proxy-password-'));
  try {
    const passwordFile = join(dir, 'proxy-password');
    writeFileSync(passwordFile, 'first-secret\n');
    const proxy = await fakeProxy(['HTTP/1.1 200 OK\r\n\r\n']);
    const settings: ProxySettings = { ...proxyAt(proxy.port), password: 'first-secret', passwordFile };
    const basic = (password: string) =>
      `Proxy-Authorization: Basic ${Buffer.from(`appliance:${password}`).toString('base64')}\r\n`;
    (await connectThroughProxy({ proxy: settings, target, timeoutMs: 2000 })).destroy();
    writeFileSync(passwordFile, 'second-secret\n');
    (await connectThroughProxy({ proxy: settings, target, timeoutMs: 2000 })).destroy();
    assert.ok(proxy.heads[0]?.includes(basic('first-secret')));
    assert.ok(proxy.heads[1]?.includes(basic('second-secret')));
    // A file that cannot be read any more fails the connect with the reason, before any byte goes out.
    rmSync(passwordFile);
    await assert.rejects(connectThroughProxy({ proxy: settings, target, timeoutMs: 2000 }), {
      code: 'CONFIG_INVALID',
      message: /proxy\.passwordFile: cannot read .*proxy-password \(ENOENT\)/,
    });
    assert.equal(proxy.heads.length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('another status: PROXY_CONNECT_REFUSED with the status line', async () => {
  const proxy = await fakeProxy(['HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n']);
  await assert.rejects(
    connectThroughProxy({ proxy: proxyAt(proxy.port), target, timeoutMs: 2000 }),
    (err: unknown) =>
      err instanceof LifelineError &&
      err.code === 'PROXY_CONNECT_REFUSED' &&
      err.message.endsWith('refused the CONNECT to hub.example.com:8443: HTTP/1.1 403 Forbidden'),
  );
});

test('a proxy that closes without answering, or does not speak HTTP', async () => {
  const silent = createServer((socket) => socket.end());
  servers.push(silent);
  await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
  await assert.rejects(
    connectThroughProxy({
      proxy: proxyAt((silent.address() as AddressInfo).port),
      target,
      timeoutMs: 2000,
    }),
    { code: 'PROXY_CONNECT_REFUSED', message: /closed the connection without answering/ },
  );
  const ssh = await fakeProxy(['SSH-2.0-OpenSSH_9.2\r\n\r\n']);
  await assert.rejects(connectThroughProxy({ proxy: proxyAt(ssh.port), target, timeoutMs: 2000 }), {
    code: 'PROXY_CONNECT_REFUSED',
    message: /did not answer the CONNECT with an HTTP status line/,
  });
});

test('nothing listening: PROXY_UNREACHABLE names the proxy address and the socket error', async () => {
  const port = await freeLoopbackPort();
  await assert.rejects(
    connectThroughProxy({ proxy: proxyAt(port), target, timeoutMs: 2000 }),
    (err: unknown) =>
      err instanceof LifelineError &&
      err.code === 'PROXY_UNREACHABLE' &&
      err.message.includes(`the proxy http://127.0.0.1:${port} is not reachable`) &&
      err.message.includes('ECONNREFUSED'),
  );
});
