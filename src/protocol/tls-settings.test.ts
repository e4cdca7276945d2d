import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getCiphers } from 'node:tls';
import { stationPortTls, technicianApiTls, tls12CipherSuites, tls13CipherSuites } from './tls-settings.js';

test('TLS 1.2 suites are ECDHE with an AEAD cipher only: no CBC, no RSA key transport, no SHA-1', () => {
  for (const suite of tls12CipherSuites)
    assert.match(suite, /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
});

test('every suite is known to the OpenSSL Node runs on (a misspelt one would be dropped silently)', () => {
  const known = new Set(getCiphers().map((name) => name.toUpperCase()));
  for (const suite of [...tls13CipherSuites, ...tls12CipherSuites]) assert.ok(known.has(suite), suite);
});

test('the station port offers only TLS 1.3 suites; the technician API starts at TLS 1.2', () => {
  assert.equal(stationPortTls.minVersion, 'TLSv1.3');
  assert.deepEqual(stationPortTls.ciphers.split(':'), [...tls13CipherSuites]);
  assert.equal(technicianApiTls.minVersion, 'TLSv1.2');
  assert.equal(technicianApiTls.honorCipherOrder, true);
});

test('both ports name their key-exchange groups and signature algorithms: no finite-field DH, no SHA-1', () => {
  for (const settings of [stationPortTls, technicianApiTls]) {
    assert.deepEqual(settings.ecdhCurve.split(':'), ['X25519', 'P-256', 'P-384']);
    for (const algorithm of settings.sigalgs.split(':'))
      assert.doesNotMatch(algorithm, /^dsa_|sha1$|sha224$/);
  }
  assert.deepEqual(stationPortTls.sigalgs.split(':'), ['ecdsa_secp256r1_sha256', 'ecdsa_secp384r1_sha384']);
});
