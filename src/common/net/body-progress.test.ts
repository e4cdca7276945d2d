// Request bodies under the guard's minimum rate, through real fastify servers (HTTP/1.1 and
// HTTP/2 over loopback): a trickled body is cut with 408 and its connection or stream closed; a
// complete body passes untouched.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { ManualClock } from '../clock.js';
import { installBodyProgress } from './body-progress.js';
import { ConnectionGuard, type ConnectionLimits } from './connection-guard.js';
import { installApiConventions } from './http-api.js';
import { silentLogger } from '../logger.js';

const limits: ConnectionLimits = {
  handshakeTimeoutMs: 10_000,
  unauthenticatedTimeoutMs: 60_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  minBodyBytesPerSecond: 1024,
  bodyRateWindowMs: 10_000,
  maxUnauthenticatedPerAddress: 100,
  maxUnauthenticated: 100,
};

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

function makeGuard(clock: ManualClock): ConnectionGuard {
  return new ConnectionGuard({
    limits,
    listener: 'test',
    configKey: 'test.yaml connections',
    logger: silentLogger(),
    clock,
  });
}

async function echoApp(
  guard: ConnectionGuard,
  http2: boolean,
): Promise<{ app: FastifyInstance; port: number }> {
  const app = (http2 ? Fastify({ http2: true }) : Fastify()) as unknown as FastifyInstance;
  installApiConventions(app, silentLogger());
  installBodyProgress(app, guard);
  app.post('/echo', async (request) => ({ got: request.body }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, port: (app.server.address() as { port: number }).port };
}

describe('body progress over HTTP/1.1', () => {
  const clock = new ManualClock();
  let guard: ConnectionGuard;
  let app: FastifyInstance;
  let port = 0;

  before(async () => {
    guard = makeGuard(clock);
    ({ app, port } = await echoApp(guard, false));
  });
  after(async () => {
    guard.close();
    await app.close();
  });

  test('a complete body is answered as usual', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: 1 }),
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { got: { a: 1 } });
  });

  test('a body trickled under the rate gets 408 API_REQUEST_TIMEOUT naming the key, and the connection closes', async () => {
    const socket: Socket = netConnect({ port, host: '127.0.0.1' });
    await new Promise((resolve) => socket.once('connect', resolve));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(
      'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{"a":',
    );
    await settle();
    for (let second = 0; second < 10; second++) {
      socket.write(' ');
      clock.advance(1000);
      guard.sweep();
      await settle();
    }
    await closed;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /"code":"API_REQUEST_TIMEOUT"/);
    assert.match(answer, /test\.yaml connections\.minBodyBytesPerSecond/);
    assert.equal(guard.stats().closed['body-too-slow'], 1);
  });
});

describe('body progress over HTTP/2', () => {
  const clock = new ManualClock();
  let guard: ConnectionGuard;
  let app: FastifyInstance;
  let client: ClientHttp2Session;

  before(async () => {
    guard = makeGuard(clock);
    let port = 0;
    ({ app, port } = await echoApp(guard, true));
    client = h2connect(`http://127.0.0.1:${port}`);
  });
  after(async () => {
    client.close();
    guard.close();
    await app.close();
  });

  test('a trickled stream is answered 408 and reset; the connection serves the next request', async () => {
    const slow = client.request({
      ':method': 'POST',
      ':path': '/echo',
      'content-type': 'application/json',
      'content-length': '5000',
    });
    let status = 0;
    let body = '';
    slow.on('response', (headers) => (status = Number(headers[':status'])));
    slow.on('data', (chunk: Buffer) => (body += chunk.toString()));
    const ended = new Promise((resolve) => slow.once('close', resolve));
    slow.write('{"a":');
    await settle();
    for (let second = 0; second < 10; second++) {
      slow.write(' ');
      clock.advance(1000);
      guard.sweep();
      await settle();
    }
    await ended;
    assert.equal(status, 408);
    assert.match(body, /API_REQUEST_TIMEOUT/);

    const next = client.request({ ':method': 'POST', ':path': '/echo', 'content-type': 'application/json' });
    next.end(JSON.stringify({ b: 2 }));
    let text = '';
    next.on('data', (chunk: Buffer) => (text += chunk.toString()));
    await new Promise((resolve) => next.once('end', resolve));
    assert.deepEqual(JSON.parse(text), { got: { b: 2 } });
  });
});
