// reflect-metadata must be loaded before @peculiar/x509 (it uses tsyringe).
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  X509Certificate,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  webcrypto,
} from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import { formatStationId } from '../protocol/index.js';
import {
  certNotAfterMs,
  certSha256,
  createCa,
  createKeyAndCsr,
  issueServerCert,
  signStationCsr,
  type KeyAndCert,
} from './index.js';

const dayMs = 24 * 60 * 60 * 1000;
const stationId = formatStationId('7KQ39XPM');

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

function derToPem(der: Buffer, label: string): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64')}\n-----END ${label}-----\n`;
}

async function stationCert(ca: KeyAndCert, id: string): Promise<KeyAndCert> {
  const { keyPem, csrPem } = await createKeyAndCsr('appliance-hostname');
  return { keyPem, certPem: await signStationCsr(ca, csrPem, id, 30 * dayMs) };
}

interface ServerSide {
  authorized: boolean;
  authorizationError: string | null;
  peerCn: unknown;
}

/**
 * A hub-like TLS 1.3 listener on loopback port 0: it asks for a client certificate but lets the
 * application decide (rejectUnauthorized false), as the station listener does.
 */
async function withHubListener(
  server: KeyAndCert,
  caPem: string,
  run: (port: number, accepted: Promise<ServerSide>) => Promise<void>,
): Promise<void> {
  const listener = tls.createServer({
    key: server.keyPem,
    cert: server.certPem,
    ca: caPem,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.3',
  });
  const accepted = new Promise<ServerSide>((resolve) => {
    listener.once('secureConnection', (socket: tls.TLSSocket) => {
      const peer = socket.getPeerCertificate();
      resolve({
        authorized: socket.authorized,
        // Typed as Error, but Node hands over the OpenSSL code as a string, or null.
        authorizationError: socket.authorizationError ? String(socket.authorizationError) : null,
        peerCn: peer.subject?.CN,
      });
      socket.end();
    });
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  try {
    await run((listener.address() as AddressInfo).port, accepted);
  } finally {
    listener.close();
    await once(listener, 'close');
  }
}

async function connectClient(port: number, options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  const socket = tls.connect({ host: '127.0.0.1', port, minVersion: 'TLSv1.3', ...options });
  await once(socket, 'secureConnect');
  return socket;
}

test('the CA is self-signed, marked as a CA and valid for the given time', async () => {
  const nowMs = Date.parse('2025-01-01T00:00:00Z');
  const ca = await createCa('Lifeline test CA', 365 * dayMs, nowMs);
  const cert = new X509Certificate(ca.certPem);
  assert.equal(cert.ca, true);
  assert.equal(cert.subject, 'CN=Lifeline test CA');
  assert.equal(cert.issuer, cert.subject);
  assert.ok(cert.verify(cert.publicKey));
  assert.equal(certNotAfterMs(ca.certPem), nowMs + 365 * dayMs);
  // The key in keyPem is the key of the certificate.
  assert.ok(cert.checkPrivateKey(createPrivateKey(ca.keyPem)));
});

test('a server certificate names every host, DNS and IP, and chains to the CA', async () => {
  const ca = await createCa('Lifeline test CA', 365 * dayMs);
  const server = await issueServerCert(ca, ['hub.example.net', '127.0.0.1', '::1'], 30 * dayMs);
  const cert = new X509Certificate(server.certPem);
  assert.equal(cert.ca, false);
  assert.ok(cert.checkIssued(new X509Certificate(ca.certPem)));
  assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
  assert.equal(cert.checkHost('hub.example.net'), 'hub.example.net');
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(cert.checkHost('other.example.net'), undefined);
  assert.ok(cert.checkPrivateKey(createPrivateKey(server.keyPem)));
});

test('a station certificate names the Station ID given, not the subject of the CSR', async () => {
  const nowMs = Date.parse('2025-06-01T12:00:00Z');
  const ca = await createCa('Lifeline test CA', 365 * dayMs, nowMs);
  const { keyPem, csrPem } = await createKeyAndCsr('ST-EVIL-EVIL-0');
  const certPem = await signStationCsr(ca, csrPem, stationId, 90 * dayMs, nowMs);
  const cert = new X509Certificate(certPem);
  assert.equal(cert.subject, `CN=${stationId}`);
  assert.equal(cert.issuer, 'CN=Lifeline test CA');
  assert.ok(cert.checkIssued(new X509Certificate(ca.certPem)));
  assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
  assert.equal(certNotAfterMs(certPem), nowMs + 90 * dayMs);
  // The certificate carries the CSR's key: the private key never left the appliance.
  assert.ok(cert.checkPrivateKey(createPrivateKey(keyPem)));
});

test('a CSR whose signed content was changed is refused', async () => {
  const ca = await createCa('Lifeline test CA', 365 * dayMs);
  const { csrPem } = await createKeyAndCsr('station-a');
  const der = pemToDer(csrPem);
  const at = der.indexOf('station-a');
  assert.ok(at > 0);
  der.write('station-b', at, 'latin1');
  const tampered = derToPem(der, 'CERTIFICATE REQUEST');
  await assert.rejects(signStationCsr(ca, tampered, stationId, dayMs), {
    code: 'ENROLL_CSR_INVALID',
    message: /not signed by its own key/,
  });
});

test('garbage instead of a CSR is refused', async () => {
  const ca = await createCa('Lifeline test CA', 365 * dayMs);
  for (const garbage of [
    '',
    'not a certificate request',
    derToPem(Buffer.from('0123456789abcdef'), 'CERTIFICATE REQUEST'),
    // A certificate is not a certificate request.
    ca.certPem,
  ]) {
    await assert.rejects(
      signStationCsr(ca, garbage, stationId, dayMs),
      { code: 'ENROLL_CSR_INVALID' },
      garbage,
    );
  }
});

test('a CSR for a key other than ECDSA P-256 is refused', async () => {
  const ca = await createCa('Lifeline test CA', 365 * dayMs);
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, [
    'sign',
    'verify',
  ]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=station',
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
  });
  await assert.rejects(signStationCsr(ca, csr.toString('pem'), stationId, dayMs), {
    code: 'ENROLL_CSR_INVALID',
    message: /P-256/,
  });
});

test('certSha256 is the SHA-256 of the DER, lower-case hex', async () => {
  const ca = await createCa('Lifeline test CA', 365 * dayMs);
  const pin = certSha256(ca.certPem);
  assert.match(pin, /^[0-9a-f]{64}$/);
  assert.equal(pin, new X509Certificate(ca.certPem).fingerprint256.replace(/:/g, '').toLowerCase());
  const other = await createCa('Lifeline test CA', 365 * dayMs);
  assert.notEqual(certSha256(other.certPem), pin);
});

test('mutual TLS 1.3: the hub authorizes a station certificate it issued and reads its Station ID', async () => {
  const ca = await createCa('Lifeline hub CA', 365 * dayMs);
  const server = await issueServerCert(ca, ['localhost', '127.0.0.1'], 30 * dayMs);
  const station = await stationCert(ca, stationId);
  await withHubListener(server, ca.certPem, async (port, accepted) => {
    const client = await connectClient(port, { key: station.keyPem, cert: station.certPem, ca: ca.certPem });
    try {
      assert.equal(client.authorized, true);
      assert.equal(client.getProtocol(), 'TLSv1.3');
      const side = await accepted;
      assert.equal(side.authorizationError, null);
      assert.equal(side.authorized, true);
      assert.equal(side.peerCn, stationId);
    } finally {
      client.destroy();
    }
  });
});

test('mutual TLS: a station certificate from another CA is not authorized by the hub', async () => {
  const ca = await createCa('Lifeline hub CA', 365 * dayMs);
  const server = await issueServerCert(ca, ['127.0.0.1'], 30 * dayMs);
  // Same name as the hub CA: only the key tells them apart.
  const rogueCa = await createCa('Lifeline hub CA', 365 * dayMs);
  const rogue = await stationCert(rogueCa, stationId);
  await withHubListener(server, ca.certPem, async (port, accepted) => {
    const client = await connectClient(port, { key: rogue.keyPem, cert: rogue.certPem, ca: ca.certPem });
    try {
      const side = await accepted;
      assert.equal(side.authorized, false);
      assert.equal(side.authorizationError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      // The hub sees the claimed name, which is why it must look at `authorized` first.
      assert.equal(side.peerCn, stationId);
    } finally {
      client.destroy();
    }
  });
});

test('mutual TLS: a connection without a client certificate is not authorized by the hub', async () => {
  const ca = await createCa('Lifeline hub CA', 365 * dayMs);
  const server = await issueServerCert(ca, ['127.0.0.1'], 30 * dayMs);
  await withHubListener(server, ca.certPem, async (port, accepted) => {
    const client = await connectClient(port, { ca: ca.certPem });
    try {
      const side = await accepted;
      assert.equal(side.authorized, false);
      assert.equal(side.peerCn, undefined);
    } finally {
      client.destroy();
    }
  });
});

test('a client trusting only the hub CA refuses a server certificate from another CA', async () => {
  const ca = await createCa('Lifeline hub CA', 365 * dayMs);
  // Same name as the hub CA: only the key tells them apart.
  const rogueCa = await createCa('Lifeline hub CA', 365 * dayMs);
  const rogueServer = await issueServerCert(rogueCa, ['127.0.0.1'], 30 * dayMs);
  const station = await stationCert(ca, stationId);
  await withHubListener(rogueServer, rogueCa.certPem, async (port) => {
    await assert.rejects(
      connectClient(port, { key: station.keyPem, cert: station.certPem, ca: ca.certPem }),
      (err: NodeJS.ErrnoException) => {
        // The rogue server sends its CA along, so OpenSSL reports that one rather than the leaf.
        assert.ok(
          ['SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'].includes(String(err.code)),
          String(err.code),
        );
        return true;
      },
    );
  });
});

test('a station key pair can be used with node:crypto', async () => {
  // The agent stores keyPem as PKCS#8: Node must read it and derive the public key in the cert.
  const { keyPem, csrPem } = await createKeyAndCsr('appliance');
  const ca = await createCa('Lifeline test CA', 365 * dayMs);
  const cert = new X509Certificate(await signStationCsr(ca, csrPem, stationId, dayMs));
  const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  assert.deepEqual(cert.publicKey.export({ type: 'spki', format: 'der' }), fromKey);
  const unrelated = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  assert.equal(cert.checkPrivateKey(unrelated), false);
});
