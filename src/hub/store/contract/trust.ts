// The contract of the certificate lifecycle: revoked and renewed stations, and the serials of the
// certificates the hub issued, for its CRL.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IssuedCertRecord } from '../trust.js';
import { dayMs, station, t0, useStore, type OpenHubStore } from './fixtures.js';

export function describeTrust(open: OpenHubStore): void {
  describe('revocation and renewal', () => {
    const store = useStore(open);
    const trust = () => store().trust;

    test('a station is revoked once and stays listed; a revoked station is not renewed', async () => {
      for (const id of ['ST-A', 'ST-B', 'ST-C']) await store().addStation(station(id));
      assert.equal(await trust().revokeStation('ST-B', t0 + 2), 'revoked');
      assert.equal(await trust().revokeStation('ST-A', t0 + 5), 'revoked');
      assert.equal(await trust().revokeStation('ST-A', t0 + 9), 'already');
      assert.equal(await trust().revokeStation('ST-X', t0), 'unknown');
      assert.equal((await store().getStation('ST-A'))?.revokedAtMs, t0 + 5);
      assert.deepEqual(await trust().listRevoked(), [
        { id: 'ST-B', revokedAtMs: t0 + 2 },
        { id: 'ST-A', revokedAtMs: t0 + 5 },
      ]);
      assert.deepEqual(await trust().listRevoked(t0 + 5), [{ id: 'ST-A', revokedAtMs: t0 + 5 }]);

      assert.equal(await trust().recordRenewal('ST-C', t0 + 400 * dayMs), true);
      assert.equal((await store().getStation('ST-C'))?.certNotAfterMs, t0 + 400 * dayMs);
      assert.equal(await trust().recordRenewal('ST-A', t0 + 400 * dayMs), false);
      assert.equal((await store().getStation('ST-A'))?.certNotAfterMs, t0 + 365 * dayMs);
      assert.equal(await trust().recordRenewal('ST-X', t0), false);
    });
  });

  describe('issued certificate serials', () => {
    const store = useStore(open);
    const serials = () => store().certSerials;
    const cert = (
      serial: string,
      stationId: string,
      issuedAtMs: number,
      overrides: Partial<IssuedCertRecord> = {},
    ) => ({
      serial,
      stationId,
      issuerSha256: 'ca1',
      issuedAtMs,
      notAfterMs: issuedAtMs + 30 * dayMs,
      ...overrides,
    });

    test('the CRL lists unexpired certificates of revoked stations from its own CA, oldest first', async () => {
      for (const id of ['ST-A', 'ST-B']) await store().addStation(station(id));
      await serials().recordIssued(cert('0b', 'ST-A', t0 + 2));
      await serials().recordIssued(cert('0a', 'ST-A', t0 + 1));
      await serials().recordIssued(cert('0c', 'ST-A', t0 + 3, { issuerSha256: 'ca2' }));
      await serials().recordIssued(cert('0d', 'ST-A', t0 - 40 * dayMs));
      await serials().recordIssued(cert('0e', 'ST-B', t0));
      assert.deepEqual(await serials().listRevokedSerials('ca1', t0), []);
      await store().trust.revokeStation('ST-A', t0 + 10);
      assert.deepEqual(await serials().listRevokedSerials('ca1', t0 + 10), ['0a', '0b']);
      assert.deepEqual(await serials().listRevokedSerials('ca2', t0 + 10), ['0c']);
      assert.deepEqual(await serials().listRevokedSerials('ca1', t0 + 30 * dayMs + 1), ['0b']);
    });

    test("a new certificate forgets the station's expired ones; a serial is recorded once", async () => {
      await store().addStation(station('ST-A'));
      await serials().recordIssued(cert('01', 'ST-A', t0, { notAfterMs: t0 + dayMs }));
      await serials().recordIssued(cert('02', 'ST-A', t0 + 2 * dayMs));
      await serials().recordIssued(cert('02', 'ST-A', t0 + 3 * dayMs, { issuerSha256: 'other' }));
      await store().trust.revokeStation('ST-A', t0 + 3 * dayMs);
      // 01 was forgotten when 02 was issued: not listed even for a time it had not expired by.
      assert.deepEqual(await serials().listRevokedSerials('ca1', t0), ['02']);
      assert.deepEqual(await serials().listRevokedSerials('other', t0), []);
    });
  });
}
