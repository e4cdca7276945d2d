// reflect-metadata must be loaded before @peculiar/x509 (it uses tsyringe).
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import Fastify from 'fastify';
import { ManualClock } from '../../common/clock.js';
import { certSha256, createCa, createKeyAndCsr, issueServerCert, signStationCsr } from '../../pki/index.js';
import { openSqliteHubStore } from '../store/index.js';
import {
  buildCaCrl,
  CaCrl,
  crlUrlFor,
  recordIssuedStationCert,
  registerCrlRoute,
  revokedStationSerials,
} from './crl.js';

const dayMs = 24 * 3600 * 1000;

async function verifiedBy(crl: x509.X509Crl, caPem: string): Promise<boolean> {
  return crl.verify({ publicKey: new x509.X509Certificate(caPem) }, webcrypto);
}

test('the CRL is signed by the CA, names it as issuer and lists the revoked serials', async () => {
  const ca = await createCa('test CA', 365 * dayMs);
  const otherCa = await createCa('other CA', 365 * dayMs);
  const nowMs = Date.UTC(2026, 0, 1);
  const serials = ['0a1b2c3d4e5f60718293a4b5c6d7e8f9', '7f00000000000000000000000000ff01'];
  const der = await buildCaCrl({ ca, revokedSerials: serials, nowMs, validityMs: 7 * dayMs });

  const crl = new x509.X509Crl(der);
  assert.equal(await verifiedBy(crl, ca.certPem), true);
  assert.equal(await verifiedBy(crl, otherCa.certPem), false);
  assert.equal(crl.issuer, new x509.X509Certificate(ca.certPem).subject);
  assert.equal(crl.thisUpdate.getTime(), nowMs);
  assert.equal(crl.nextUpdate?.getTime(), nowMs + 7 * dayMs);
  assert.deepEqual(
    crl.entries.map((entry) => entry.serialNumber),
    serials,
  );
  assert.ok(crl.findRevoked(serials[0] ?? ''), 'a listed serial is found as revoked');

  const empty = new x509.X509Crl(await buildCaCrl({ ca, revokedSerials: [], nowMs, validityMs: dayMs }));
  assert.equal(await verifiedBy(empty, ca.certPem), true);
  assert.deepEqual(empty.entries, []);
});

test('server certificates name the CRL under the API URL as their distribution point', async () => {
  const ca = await createCa('test CA', 365 * dayMs);
  const url = crlUrlFor('https://hub.example.net:8444/');
  assert.equal(url, 'https://hub.example.net:8444/v1/ca.crl');
  const server = await issueServerCert(ca, ['hub.example.net'], 30 * dayMs, Date.now(), url);
  const ext = new x509.X509Certificate(server.certPem).getExtension(x509.CRLDistributionPointsExtension);
  assert.ok(ext, 'the certificate has a CRL distribution point');
  const names = ext.distributionPoints.flatMap(
    (point) => point.distributionPoint?.fullName?.map((name) => name.uniformResourceIdentifier) ?? [],
  );
  assert.deepEqual([...names], [url]);
  const without = await issueServerCert(ca, ['hub.example.net'], 30 * dayMs);
  assert.equal(
    new x509.X509Certificate(without.certPem).getExtension(x509.CRLDistributionPointsExtension),
    null,
  );
});

test('CaCrl signs again at most once an hour, or at once when the CA changed', async () => {
  const first = await createCa('first CA', 365 * dayMs);
  const second = await createCa('second CA', 365 * dayMs);
  let ca = first;
  let listed: string[] = [];
  let lookups = 0;
  const clock = new ManualClock();
  const crl = new CaCrl({
    ca: () => ca,
    revokedSerials: () => {
      lookups++;
      return Promise.resolve(listed);
    },
    clock,
  });
  const a = await crl.der();
  listed = ['01'];
  clock.advance(59 * 60 * 1000);
  assert.equal(await crl.der(), a, 'cached within the hour');
  assert.equal(lookups, 1);
  clock.advance(60 * 1000);
  const b = new x509.X509Crl(await crl.der());
  assert.deepEqual(
    b.entries.map((entry) => entry.serialNumber),
    ['01'],
  );
  assert.equal(b.thisUpdate.getTime(), clock.now());
  assert.equal(b.nextUpdate?.getTime(), clock.now() + 7 * dayMs);
  ca = second;
  const c = new x509.X509Crl(await crl.der());
  assert.equal(await verifiedBy(c, second.certPem), true);
  assert.equal(lookups, 3);
});

test('GET /v1/ca.crl answers the DER CRL without authentication', async (t) => {
  const ca = await createCa('test CA', 365 * dayMs);
  const app = Fastify();
  t.after(() => app.close());
  registerCrlRoute(app, new CaCrl({ ca: () => ca, clock: new ManualClock(Date.now()) }));
  const response = await app.inject({ method: 'GET', url: '/v1/ca.crl' });
  assert.equal(response.statusCode, 200);
  assert.equal(response.headers['content-type'], 'application/pkix-crl');
  const crl = new x509.X509Crl(response.rawPayload);
  assert.equal(await verifiedBy(crl, ca.certPem), true);
});

test('the CRL lists the unexpired certificates of revoked stations from its own CA', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-crl-'));
  const store = await openSqliteHubStore(join(dir, 'hub.db'));
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = new ManualClock(Date.now());
  const ca = await createCa('current CA', 365 * dayMs);
  const nextCa = await createCa('next CA', 365 * dayMs);
  const issue = async (stationId: string, issuer = ca, validityMs = dayMs) => {
    const { csrPem } = await createKeyAndCsr(stationId);
    const certPem = await signStationCsr(issuer, csrPem, stationId, validityMs, clock.now());
    await recordIssuedStationCert(store.certSerials, stationId, certPem, issuer.certPem, clock.now());
    return new x509.X509Certificate(certPem).serialNumber;
  };
  for (const id of ['ST-A', 'ST-B'])
    await store.addStation({
      id,
      name: id,
      enrolledAtMs: clock.now(),
      certNotAfterMs: clock.now() + dayMs,
      lastSeenAtMs: clock.now(),
      connectedSinceMs: null,
      revokedAtMs: null,
    });
  const expiring = await issue('ST-A', ca, 60_000);
  const renewed = await issue('ST-A');
  const fromNextCa = await issue('ST-A', nextCa);
  const notRevoked = await issue('ST-B');
  clock.advance(2 * 60_000);
  assert.equal(await store.trust.revokeStation('ST-A', clock.now()), 'revoked');

  const crl = new CaCrl({
    ca: () => ca,
    revokedSerials: revokedStationSerials(store.certSerials, () => ca, clock),
    clock,
  });
  const parsed = new x509.X509Crl(await crl.der());
  assert.equal(await verifiedBy(parsed, ca.certPem), true);
  const listed = parsed.entries.map((entry) => entry.serialNumber);
  // Not the expired one, not the next CA's, not the unrevoked station's.
  assert.deepEqual(listed, [renewed]);
  for (const serial of [expiring, fromNextCa, notRevoked]) assert.equal(parsed.findRevoked(serial), null);
  assert.deepEqual(await store.certSerials.listRevokedSerials(certSha256(nextCa.certPem), clock.now()), [
    fromNextCa,
  ]);
});
