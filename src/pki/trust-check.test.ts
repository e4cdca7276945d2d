import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, createKeyAndCsr, signStationCsr } from './x509.js';
import { createTicketKeyPair, TicketSigner, TicketVerifier } from './ticket-signing.js';
import type { TicketClaims } from '../protocol/index.js';
import { checkExpiredStationCert, splitPemBundle } from './trust-check.js';

const hour = 3600_000;

test('splitPemBundle finds each block of a concatenated bundle', async () => {
  const a = await createCa('A', hour);
  const b = await createCa('B', hour);
  assert.deepEqual(splitPemBundle(a.certPem + b.certPem), [a.certPem, b.certPem]);
  assert.deepEqual(splitPemBundle('no pem here'), []);
});

test('an expired station certificate is renewable only within the grace, and only from a hub CA', async () => {
  const ca = await createCa('hub', 24 * hour);
  const other = await createCa('other', 24 * hour);
  const { csrPem } = await createKeyAndCsr('x');
  const issuedAtMs = Date.now() - 2 * hour;
  const certPem = await signStationCsr(ca, csrPem, 'ST-0000-0000-0', hour, issuedAtMs);
  const notAfterMs = Math.floor((issuedAtMs + hour) / 1000) * 1000;
  const now = Date.now();

  assert.deepEqual(checkExpiredStationCert(certPem, [ca.certPem], now, 2 * hour), {
    renewable: true,
    notAfterMs,
  });
  // Either CA of a rotation's overlap will do.
  assert.equal(checkExpiredStationCert(certPem, [other.certPem, ca.certPem], now, 2 * hour).renewable, true);
  assert.deepEqual(checkExpiredStationCert(certPem, [ca.certPem], now, hour / 2), {
    renewable: false,
    notAfterMs,
    why: 'past-grace',
  });
  assert.deepEqual(checkExpiredStationCert(certPem, [other.certPem], now, 2 * hour), {
    renewable: false,
    notAfterMs,
    why: 'not-issued-by-hub',
  });
  assert.equal(checkExpiredStationCert(certPem, [ca.certPem], issuedAtMs, 2 * hour).renewable, false);
  assert.equal(checkExpiredStationCert('garbage', [ca.certPem], now, hour).renewable, false);
});

test('a 60 s station certificate is backdated by 6 s only, so half its life lies ahead', async () => {
  const ca = await createCa('hub', hour);
  const { csrPem } = await createKeyAndCsr('x');
  const nowMs = Math.floor(Date.now() / 1000) * 1000;
  const certPem = await signStationCsr(ca, csrPem, 'ST-0000-0000-0', 60_000, nowMs);
  const { X509Certificate } = await import('node:crypto');
  const cert = new X509Certificate(certPem);
  assert.equal(Date.parse(cert.validFrom), nowMs - 6000);
  assert.equal(Date.parse(cert.validTo), nowMs + 60_000);
});

test('a ticket verifier with two pinned keys accepts tickets signed by either, and only those', async () => {
  const oldKeys = createTicketKeyPair();
  const newKeys = createTicketKeyPair();
  const stranger = createTicketKeyPair();
  const nowS = Math.floor(Date.now() / 1000);
  const claims: TicketClaims = {
    iss: 'lifeline-hub',
    aud: 'ST-0000-0000-0',
    sub: 'tech',
    name: 'Tech',
    groups: ['technicians'],
    svc: 'ssh',
    sid: '0123456789abcdef0123456789abcdef',
    jti: 'fedcba9876543210fedcba9876543210',
    iat: nowS,
    exp: nowS + 30,
    amr: ['pwd'],
  };
  const verifier = new TicketVerifier(oldKeys.publicKeyPem + newKeys.publicKeyPem);
  for (const keys of [oldKeys, newKeys]) {
    const token = await new TicketSigner(keys.privateKeyPem).sign(claims);
    assert.equal((await verifier.verify(token, 'ST-0000-0000-0', Date.now())).sub, 'tech');
  }
  const forged = await new TicketSigner(stranger.privateKeyPem).sign(claims);
  await assert.rejects(verifier.verify(forged, 'ST-0000-0000-0', Date.now()), { code: 'TICKET_INVALID' });
  verifier.replaceKeys(newKeys.publicKeyPem);
  const old = await new TicketSigner(oldKeys.privateKeyPem).sign(claims);
  await assert.rejects(verifier.verify(old, 'ST-0000-0000-0', Date.now()), { code: 'TICKET_INVALID' });
});
