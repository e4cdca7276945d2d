// The contract of enrollment tokens, stations, their tunnels coming and going, and the audit
// checkpoints stations send.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditCheckpointRecord, TunnelChange } from '../hub-store.js';
import { minuteMs, station, t0, useStore, type OpenHubStore } from './fixtures.js';

function tunnel(stationId: string, connected: boolean, atMs: number, nodeId = 'node-a'): TunnelChange {
  return {
    stationId,
    nodeId,
    connected,
    atMs,
    audit: {
      atMs,
      actor: `station:${stationId}`,
      action: connected ? 'station.connected' : 'station.disconnected',
      stationId,
      detail: {},
    },
  };
}

export function describeStations(open: OpenHubStore): void {
  describe('enrollment tokens', () => {
    const store = useStore(open);
    const token = { id: 'token-1', createdAtMs: t0, expiresAtMs: t0 + 60 * minuteMs };

    test('a token is used once', async () => {
      await store().addEnrollmentToken({ ...token, usedAtMs: null, usedByStation: null });
      assert.deepEqual(await store().useEnrollmentToken('token-1', 'ST-A', t0 + minuteMs), { ok: true });
      assert.deepEqual(await store().useEnrollmentToken('token-1', 'ST-B', t0 + 2 * minuteMs), {
        ok: false,
        why: 'used',
      });
    });

    test('a token is valid until, not at, its expiry', async () => {
      await store().addEnrollmentToken({ ...token, usedAtMs: null, usedByStation: null });
      await store().addEnrollmentToken({ ...token, id: 'token-2', usedAtMs: null, usedByStation: null });
      assert.deepEqual(await store().useEnrollmentToken('token-2', 'ST-A', token.expiresAtMs), {
        ok: false,
        why: 'expired',
      });
      assert.deepEqual(await store().useEnrollmentToken('token-1', 'ST-A', token.expiresAtMs - 1), {
        ok: true,
      });
    });

    test('an expired token stays unused', async () => {
      await store().addEnrollmentToken({ ...token, usedAtMs: null, usedByStation: null });
      const late = token.expiresAtMs + minuteMs;
      for (let i = 0; i < 2; i++)
        assert.deepEqual(await store().useEnrollmentToken('token-1', 'ST-A', late), {
          ok: false,
          why: 'expired',
        });
    });

    test('a used token that has since expired is reported as used', async () => {
      await store().addEnrollmentToken({ ...token, usedAtMs: t0 + 1, usedByStation: 'ST-A' });
      assert.deepEqual(await store().useEnrollmentToken('token-1', 'ST-B', token.expiresAtMs + 1), {
        ok: false,
        why: 'used',
      });
    });

    test('an unknown token is reported as unknown', async () => {
      assert.deepEqual(await store().useEnrollmentToken('no-such-token', 'ST-A', t0), {
        ok: false,
        why: 'unknown',
      });
    });

    test('of concurrent uses of one token exactly one wins', async () => {
      await store().addEnrollmentToken({ ...token, usedAtMs: null, usedByStation: null });
      const uses = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store().useEnrollmentToken('token-1', `ST-${i}`, t0 + 1)),
      );
      assert.equal(uses.filter((use) => use.ok).length, 1);
      for (const use of uses.filter((u) => !u.ok)) assert.deepEqual(use, { ok: false, why: 'used' });
    });

    test('a token id is added once', async () => {
      await store().addEnrollmentToken({ ...token, usedAtMs: null, usedByStation: null });
      await assert.rejects(store().addEnrollmentToken({ ...token, usedAtMs: null, usedByStation: null }));
    });
  });

  describe('stations', () => {
    const store = useStore(open);

    test('a station reads back as written', async () => {
      const full = station('ST-A', { lastSeenAtMs: t0 + 1, connectedSinceMs: t0 + 2, revokedAtMs: t0 + 3 });
      await store().addStation(full);
      await store().addStation(station('ST-B'));
      assert.deepEqual(await store().getStation('ST-A'), full);
      assert.deepEqual(await store().getStation('ST-B'), station('ST-B'));
      assert.equal(await store().getStation('ST-C'), undefined);
    });

    test('stations are listed by id', async () => {
      assert.deepEqual(await store().listStations(), []);
      for (const id of ['ST-C', 'ST-A', 'ST-B']) await store().addStation(station(id));
      assert.deepEqual(
        (await store().listStations()).map((s) => s.id),
        ['ST-A', 'ST-B', 'ST-C'],
      );
    });

    test('a station id is added once', async () => {
      await store().addStation(station('ST-A'));
      await assert.rejects(store().addStation(station('ST-A', { name: 'impostor' })));
      assert.equal((await store().getStation('ST-A'))?.name, 'appliance ST-A');
    });
  });

  describe('tunnels', () => {
    const store = useStore(open);

    test('tunnel changes set connectedSince and lastSeen in order, each with its audit entry', async () => {
      await store().addStation(station('ST-A'));
      await store().addStation(station('ST-B'));
      await store().recordTunnelChanges([
        tunnel('ST-A', true, t0 + minuteMs),
        tunnel('ST-B', true, t0 + 2 * minuteMs),
        tunnel('ST-B', false, t0 + 3 * minuteMs),
        tunnel('ST-B', true, t0 + 4 * minuteMs),
      ]);
      const a = await store().getStation('ST-A');
      assert.deepEqual([a?.connectedSinceMs, a?.lastSeenAtMs], [t0 + minuteMs, t0 + minuteMs]);
      const b = await store().getStation('ST-B');
      assert.deepEqual([b?.connectedSinceMs, b?.lastSeenAtMs], [t0 + 4 * minuteMs, t0 + 4 * minuteMs]);
      await store().recordTunnelChanges([tunnel('ST-A', false, t0 + 5 * minuteMs)]);
      const gone = await store().getStation('ST-A');
      assert.deepEqual([gone?.connectedSinceMs, gone?.lastSeenAtMs], [null, t0 + 5 * minuteMs]);
      assert.deepEqual(
        (await store().listAudit()).map((e) => [e.action, e.stationId, e.atMs]),
        [
          ['station.connected', 'ST-A', t0 + minuteMs],
          ['station.connected', 'ST-B', t0 + 2 * minuteMs],
          ['station.disconnected', 'ST-B', t0 + 3 * minuteMs],
          ['station.connected', 'ST-B', t0 + 4 * minuteMs],
          ['station.disconnected', 'ST-A', t0 + 5 * minuteMs],
        ],
      );
    });

    test('a change of an unknown station creates no station (its audit entry is kept); no changes write nothing', async () => {
      await store().recordTunnelChanges([tunnel('ST-X', true, t0)]);
      assert.equal(await store().getStation('ST-X'), undefined);
      await store().recordTunnelChanges([]);
      assert.equal((await store().listAudit()).length, 1);
    });

    test('a station that moved to another node stays connected when the first node reports it gone', async () => {
      await store().addStation(station('ST-A'));
      await store().recordTunnelChanges([tunnel('ST-A', true, t0 + 1, 'node-a')]);
      await store().recordTunnelChanges([tunnel('ST-A', true, t0 + 2, 'node-b')]);
      // Node A notices its old tunnel is dead after B took the station.
      await store().recordTunnelChanges([tunnel('ST-A', false, t0 + 3, 'node-a')]);
      const moved = await store().getStation('ST-A');
      assert.deepEqual([moved?.connectedSinceMs, moved?.lastSeenAtMs], [t0 + 2, t0 + 2]);
      await store().clearConnections(t0 + 4, 'node-a');
      assert.equal((await store().getStation('ST-A'))?.connectedSinceMs, t0 + 2, "node A's start leaves B's");
      await store().clearConnections(t0 + 5, 'node-b');
      assert.equal((await store().getStation('ST-A'))?.connectedSinceMs, null);
    });

    test('clearConnections disconnects the connected stations only', async () => {
      for (const id of ['ST-A', 'ST-B', 'ST-C']) await store().addStation(station(id));
      await store().recordTunnelChanges([
        tunnel('ST-A', true, t0 + 1),
        tunnel('ST-B', true, t0 + 2),
        tunnel('ST-B', false, t0 + 3),
        tunnel('ST-C', true, t0 + 4),
      ]);
      await store().clearConnections(t0 + 10, 'node-a');
      const byId = new Map((await store().listStations()).map((s) => [s.id, s]));
      assert.deepEqual(
        ['ST-A', 'ST-B', 'ST-C'].map((id) => [byId.get(id)?.connectedSinceMs, byId.get(id)?.lastSeenAtMs]),
        // ST-B was seen last when it disconnected.
        [
          [null, t0 + 10],
          [null, t0 + 3],
          [null, t0 + 10],
        ],
      );
    });
  });

  describe('audit checkpoints', () => {
    const store = useStore(open);
    const checkpoint = (count: number, headHash: string): AuditCheckpointRecord => ({
      stationId: 'ST-A',
      count,
      headHash,
      previousCount: count - 10,
      previousHash: `hash-${count - 10}`,
      atMs: t0 + count,
      signature: `signature-${count}`,
      // Over 32 bits, as every time is.
      receivedAtMs: t0 + count + 1,
    });

    test('the latest checkpoint is the one of the highest count; a second one for a count is ignored', async () => {
      assert.equal(await store().latestAuditCheckpoint('ST-A'), undefined);
      await store().addAuditCheckpoint(checkpoint(20, 'hash-20'));
      await store().addAuditCheckpoint(checkpoint(10, 'hash-10'));
      await store().addAuditCheckpoint({ ...checkpoint(20, 'forged'), signature: 'other' });
      assert.deepEqual(await store().latestAuditCheckpoint('ST-A'), checkpoint(20, 'hash-20'));
      assert.equal(await store().latestAuditCheckpoint('ST-B'), undefined);
    });
  });
}
