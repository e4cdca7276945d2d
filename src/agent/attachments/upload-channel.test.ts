// The agent's end of the upload channel against real TLS "hubs" on loopback, dialled through the
// HubDialer as the agent does: a hub without the channel (another ALPN) or not listening makes the
// channel unavailable with the dial's LINK_* code, so chunks go over call home; a hub that goes
// silent or hangs up fails the chunks in flight with LINK_TIMEOUT or LINK_RESET; one that refuses
// the station answers the chunks in flight with its refusal.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { LifelineError } from '../../common/errors.js';
import {
  createCa,
  createKeyAndCsr,
  issueServerCert,
  signStationCsr,
  type KeyAndCert,
} from '../../pki/index.js';
import { alpnCallHome, alpnUpload } from '../../protocol/index.js';
import { HubDialer } from '../link/index.js';
import { UploadChannel, UploadChannelUnavailable } from './upload-channel.js';

const day = 86_400_000;
let credentials: { caPem: string; certPem: string; keyPem: string };
let serverCert: KeyAndCert;
const servers: TlsServer[] = [];
const sockets = new Set<Socket>();

before(async () => {
  const ca = await createCa('test CA', day);
  serverCert = await issueServerCert(ca, ['127.0.0.1'], day);
  const station = await createKeyAndCsr('station');
  credentials = {
    caPem: ca.certPem,
    certPem: await signStationCsr(ca, station.csrPem, 'ST-TEST-TEST-0', day),
    keyPem: station.keyPem,
  };
});

after(() => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) server.close();
});

/** A TLS hub speaking `protocols`; `onConnection` gets each upload connection. */
async function hub(protocols: string[], onConnection: (socket: TLSSocket) => void = () => undefined) {
  const server = createTlsServer(
    { key: serverCert.keyPem, cert: serverCert.certPem, ALPNProtocols: protocols },
    (socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      onConnection(socket);
    },
  );
  server.on('tlsClientError', () => undefined);
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return (server.address() as AddressInfo).port;
}

function channelTo(port: number, options: { idleTimeoutMs?: number } = {}): UploadChannel {
  const dialer = new HubDialer({
    endpoints: [`127.0.0.1:${port}`],
    serverName: undefined,
    credentials: () => credentials,
  });
  return new UploadChannel({
    connect: async (signal) => (await dialer.connectInUse(alpnUpload, signal)).socket,
    ...options,
  });
}

const chunk = { id: 'a'.repeat(32), index: 0, manifest: 'x' };

test('a hub without the upload channel (another ALPN) makes it unavailable with LINK_ALPN', async () => {
  const channel = channelTo(await hub([alpnCallHome]));
  try {
    await assert.rejects(channel.send(chunk, Buffer.alloc(1)), (err: unknown) => {
      assert.ok(err instanceof UploadChannelUnavailable);
      assert.ok(err instanceof LifelineError);
      assert.equal(err.code, 'LINK_ALPN');
      assert.match(err.message, /^the upload channel could not be opened: .*lifeline-upload\/1/);
      assert.ok(err.cause instanceof LifelineError && err.cause.code === 'LINK_ALPN');
      return true;
    });
  } finally {
    channel.close();
  }
});

test('a hub not listening makes the channel unavailable with LINK_REFUSED', async () => {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as AddressInfo;
  await new Promise((done) => probe.close(done));
  const channel = channelTo(port);
  try {
    await assert.rejects(channel.send(chunk, Buffer.alloc(1)), (err: unknown) => {
      assert.ok(err instanceof UploadChannelUnavailable);
      assert.equal(err.code, 'LINK_REFUSED');
      assert.match(err.message, /connection refused by 127\.0\.0\.1:\d+/);
      return true;
    });
  } finally {
    channel.close();
  }
});

test('a hub that stays silent with a chunk in flight ends the connection with LINK_TIMEOUT', async () => {
  const channel = channelTo(await hub([alpnUpload], (socket) => socket.resume()), { idleTimeoutMs: 100 });
  try {
    await assert.rejects(channel.send(chunk, Buffer.alloc(1)), (err: unknown) => {
      assert.ok(err instanceof LifelineError && !(err instanceof UploadChannelUnavailable));
      assert.equal(err.code, 'LINK_TIMEOUT');
      assert.match(err.message, /^the hub did not answer on the upload connection for \d+ ms$/);
      return true;
    });
  } finally {
    channel.close();
  }
});

test('a hub that hangs up with a chunk in flight fails it with LINK_RESET', async () => {
  const port = await hub([alpnUpload], (socket) => socket.once('data', () => socket.end()));
  const channel = channelTo(port);
  try {
    await assert.rejects(channel.send(chunk, Buffer.alloc(1)), {
      code: 'LINK_RESET',
      message: 'the hub closed the upload connection',
    });
  } finally {
    channel.close();
  }
});

test('a hub that refuses the station answers every chunk in flight with its refusal', async () => {
  const refusal = JSON.stringify({ code: 'STATION_REVOKED', message: 'this station is revoked' });
  const port = await hub([alpnUpload], (socket) =>
    socket.once('data', () => socket.end(`${JSON.stringify({ seq: 0, status: 403, answer: refusal })}\n`)),
  );
  const channel = channelTo(port);
  try {
    assert.deepEqual(await channel.send(chunk, Buffer.alloc(1)), { seq: 0, status: 403, answer: refusal });
  } finally {
    channel.close();
  }
});

test('a closed channel sends nothing', async () => {
  const channel = channelTo(await hub([alpnUpload]));
  channel.close();
  await assert.rejects(channel.send(chunk, Buffer.alloc(1)), { code: 'API_UNREACHABLE' });
});
