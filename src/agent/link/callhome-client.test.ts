// The call-home client against a real HTTP/2 "hub" over mutual TLS on loopback: answers come back
// as they are; a hub not reached, one that does not answer in time and one that resets the stream
// are LINK_* errors with the original as the cause, never prose alone.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { constants as h2constants, createSecureServer, type Http2SecureServer } from 'node:http2';
import { LifelineError } from '../../common/errors.js';
import { createCa, createKeyAndCsr, issueServerCert, signStationCsr } from '../../pki/index.js';
import { CallHomeClient } from './callhome-client.js';
import { HubDialer } from './hub-dialer.js';

const day = 86_400_000;
let credentials: { caPem: string; certPem: string; keyPem: string };
let hub: Http2SecureServer;
let hubPort: number;

before(async () => {
  const ca = await createCa('test CA', day);
  const server = await issueServerCert(ca, ['127.0.0.1'], day);
  const station = await createKeyAndCsr('station');
  credentials = {
    caPem: ca.certPem,
    certPem: await signStationCsr(ca, station.csrPem, 'ST-TEST-TEST-0', day),
    keyPem: station.keyPem,
  };
  hub = createSecureServer({
    key: server.keyPem,
    cert: server.certPem,
    ca: ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
  });
  hub.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    switch (headers[':path']) {
      case '/v1/ping':
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.end(JSON.stringify({ timeMs: 1 }));
        return;
      case '/v1/silent':
        return; // never answers
      case '/v1/reset':
        stream.close(h2constants.NGHTTP2_INTERNAL_ERROR);
        return;
      default:
        stream.respond({ ':status': 404, 'content-type': 'application/json' });
        stream.end(JSON.stringify({ code: 'API_NOT_FOUND', message: 'no such route' }));
    }
  });
  await new Promise<void>((done) => hub.listen(0, '127.0.0.1', done));
  hubPort = (hub.address() as AddressInfo).port;
});

after(() => hub.close());

function clientOf(port: number, timeoutMs = 2000): CallHomeClient {
  const dialer = new HubDialer({
    endpoints: [`127.0.0.1:${port}`],
    serverName: undefined,
    credentials: () => credentials,
  });
  return new CallHomeClient({ dialer, timeoutMs });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

test("an answer comes back as JSON; an error answer as the hub's code and message", async () => {
  const client = clientOf(hubPort);
  try {
    assert.deepEqual(await client.request('GET', '/v1/ping'), { timeMs: 1 });
    await assert.rejects(client.request('GET', '/v1/nothing'), {
      name: 'LifelineError',
      code: 'API_NOT_FOUND',
      message: 'no such route',
    });
  } finally {
    client.close();
  }
});

test('a hub not listening is LINK_REFUSED: the hub is not reachable, with the dial as the cause', async () => {
  const port = await freePort();
  const client = clientOf(port);
  try {
    await assert.rejects(client.request('GET', '/v1/ping'), (err: unknown) => {
      assert.ok(err instanceof LifelineError);
      assert.equal(err.code, 'LINK_REFUSED');
      assert.equal(
        err.message,
        `the hub at 127.0.0.1:${port} is not reachable: connection refused by 127.0.0.1:${port}: the hub is not listening there`,
      );
      assert.ok(err.cause instanceof LifelineError && err.cause.code === 'LINK_REFUSED');
      return true;
    });
    // Raw exchanges reject with the dial's error itself.
    await assert.rejects(client.postRaw('/v1/reports', '{}'), { code: 'LINK_REFUSED' });
  } finally {
    client.close();
  }
});

test('no answer in time is LINK_TIMEOUT; a stream the hub resets is LINK_RESET', async () => {
  const client = clientOf(hubPort, 200);
  try {
    await assert.rejects(client.request('GET', '/v1/silent'), {
      code: 'LINK_TIMEOUT',
      message: `the hub at 127.0.0.1:${hubPort} is not reachable: no answer: the hub did not answer within 200 ms`,
    });
    await assert.rejects(client.getStream('/v1/silent'), {
      code: 'LINK_TIMEOUT',
      message: 'no answer: the hub did not answer within 200 ms',
    });
    await assert.rejects(client.sendBytes('POST', '/v1/silent', Buffer.from('x'), {}), {
      code: 'LINK_TIMEOUT',
      message: 'no answer: the hub was silent for 200 ms',
    });
    await assert.rejects(client.postRaw('/v1/reset', '{}'), (err: unknown) => {
      assert.ok(err instanceof LifelineError);
      assert.equal(err.code, 'LINK_RESET');
      assert.match(err.message, /^the connection to the hub failed: .*NGHTTP2_INTERNAL_ERROR/);
      assert.equal((err.cause as { code?: unknown }).code, 'ERR_HTTP2_STREAM_ERROR');
      return true;
    });
    // The connection itself is fine: the next request is answered.
    assert.deepEqual(await client.request('GET', '/v1/ping'), { timeMs: 1 });
  } finally {
    client.close();
  }
});

test('a closed client refuses to dial', async () => {
  const client = clientOf(hubPort);
  client.close();
  await assert.rejects(client.request('GET', '/v1/ping'), { code: 'API_UNREACHABLE' });
});
