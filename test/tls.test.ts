// The TLS settings of a real hub's two ports, checked quickly with Node's own client (the full
// scan with testssl.sh is test/slow/testssl.test.ts): old versions, CBC suites and renegotiation
// are refused.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { Cluster } from './harness/cluster.js';

/** Resolves with the connected socket, or rejects with the handshake's error code. */
function handshake(options: ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', servername: 'localhost', ...options }, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('hub TLS settings', { timeout: 60_000 }, () => {
  let cluster: Cluster;
  let ca: Buffer;

  before(async () => {
    cluster = new Cluster();
    await cluster.initHub();
    await cluster.startHub();
    ca = readFileSync(join(cluster.hubDir, 'ca.pem'));
  });

  after(() => cluster?.close());

  test('the station port speaks TLS 1.3 only', async () => {
    await assert.rejects(
      handshake({ port: cluster.stationPort, ca, maxVersion: 'TLSv1.2' }),
      /protocol version|PROTOCOL_VERSION/i,
    );
    const socket = await handshake({ port: cluster.stationPort, ca, ALPNProtocols: ['h2'] });
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    socket.destroy();
  });

  test('the technician API takes TLS 1.2 with an ECDHE AEAD suite, not TLS 1.1 nor CBC', async () => {
    await assert.rejects(
      handshake({ port: cluster.apiPort, ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }),
      /protocol version|PROTOCOL_VERSION|no protocols available/i,
    );
    await assert.rejects(
      handshake({
        port: cluster.apiPort,
        ca,
        maxVersion: 'TLSv1.2',
        ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:AES128-GCM-SHA256',
      }),
      /handshake failure|HANDSHAKE_FAILURE/i,
    );
    const socket = await handshake({ port: cluster.apiPort, ca, maxVersion: 'TLSv1.2' });
    assert.equal(socket.getProtocol(), 'TLSv1.2');
    assert.match(socket.getCipher().name, /^ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
    socket.destroy();
  });

  test('the technician API refuses TLS 1.2 renegotiation', async () => {
    const socket = await handshake({ port: cluster.apiPort, ca, maxVersion: 'TLSv1.2' });
    // Without the refusal the callback would report a renegotiation that took place.
    const outcome = await new Promise<string>((resolve) => {
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      socket.renegotiate({}, (err) => resolve(err ? `renegotiation failed: ${err.message}` : 'renegotiated'));
    });
    assert.equal(outcome, 'ERR_SSL_NO_RENEGOTIATION');
    socket.destroy();
  });
});
