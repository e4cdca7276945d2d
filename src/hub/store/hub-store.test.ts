// One HubStore suite for every implementation: each test opens a store of its own, which must be
// empty. Run it against another implementation by adding a runHubStoreSuite call at the bottom.

import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HubSessionRecord, HubStore, StationRecord, UserRecord } from './hub-store.js';
import { openSqliteHubStore } from './sqlite-hub-store.js';

// Realistic epoch milliseconds: beyond 32 bits, as a PostgreSQL bigint must hold them.
const t0 = 1_750_000_000_000;
const minuteMs = 60_000;

function station(id: string, overrides: Partial<StationRecord> = {}): StationRecord {
  return {
    id,
    name: `appliance ${id}`,
    enrolledAtMs: t0,
    certNotAfterMs: t0 + 365 * 24 * 60 * minuteMs,
    lastSeenAtMs: null,
    connectedSinceMs: null,
    revokedAtMs: null,
    ...overrides,
  };
}

function user(name: string, groups: string[], overrides: Partial<UserRecord> = {}): UserRecord {
  return {
    name,
    passwordHash: `scrypt$${name}$hash`,
    groups,
    createdAtMs: t0,
    disabledAtMs: null,
    ...overrides,
  };
}

function session(id: string, startedAtMs: number): HubSessionRecord {
  return {
    id,
    stationId: 'ST-7KQ3-9XPM-4',
    userName: 'alice',
    service: 'ssh',
    reason: `ticket ${id}`,
    startedAtMs,
    endedAtMs: null,
    endReason: null,
    bytesToStation: 0,
    bytesFromStation: 0,
  };
}

function runHubStoreSuite(name: string, open: () => Promise<HubStore>): void {
  describe(name, () => {
    let store: HubStore;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    describe('enrollment tokens', () => {
      const token = { id: 'token-1', createdAtMs: t0, expiresAtMs: t0 + 60 * minuteMs };

      test('a token is used once', async () => {
        await store.addEnrollmentToken({ ...token, usedAtMs: null, usedByStation: null });
        assert.deepEqual(await store.useEnrollmentToken('token-1', 'ST-A', t0 + minuteMs), { ok: true });
        assert.deepEqual(await store.useEnrollmentToken('token-1', 'ST-B', t0 + 2 * minuteMs), {
          ok: false,
          why: 'used',
        });
      });

      test('a token is valid until, not at, its expiry', async () => {
        await store.addEnrollmentToken({ ...token, usedAtMs: null, usedByStation: null });
        await store.addEnrollmentToken({ ...token, id: 'token-2', usedAtMs: null, usedByStation: null });
        assert.deepEqual(await store.useEnrollmentToken('token-2', 'ST-A', token.expiresAtMs), {
          ok: false,
          why: 'expired',
        });
        assert.deepEqual(await store.useEnrollmentToken('token-1', 'ST-A', token.expiresAtMs - 1), {
          ok: true,
        });
      });

      test('an expired token stays unused', async () => {
        await store.addEnrollmentToken({ ...token, usedAtMs: null, usedByStation: null });
        const late = token.expiresAtMs + minuteMs;
        assert.deepEqual(await store.useEnrollmentToken('token-1', 'ST-A', late), {
          ok: false,
          why: 'expired',
        });
        assert.deepEqual(await store.useEnrollmentToken('token-1', 'ST-A', late), {
          ok: false,
          why: 'expired',
        });
      });

      test('a used token that has since expired is reported as used', async () => {
        await store.addEnrollmentToken({ ...token, usedAtMs: t0 + 1, usedByStation: 'ST-A' });
        assert.deepEqual(await store.useEnrollmentToken('token-1', 'ST-B', token.expiresAtMs + 1), {
          ok: false,
          why: 'used',
        });
      });

      test('an unknown token is reported as unknown', async () => {
        assert.deepEqual(await store.useEnrollmentToken('no-such-token', 'ST-A', t0), {
          ok: false,
          why: 'unknown',
        });
      });

      test('of concurrent uses of one token exactly one wins', async () => {
        await store.addEnrollmentToken({ ...token, usedAtMs: null, usedByStation: null });
        const uses = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.useEnrollmentToken('token-1', `ST-${i}`, t0 + 1)),
        );
        assert.equal(uses.filter((use) => use.ok).length, 1);
        for (const use of uses.filter((u) => !u.ok)) assert.deepEqual(use, { ok: false, why: 'used' });
      });

      test('a token id is added once', async () => {
        await store.addEnrollmentToken({ ...token, usedAtMs: null, usedByStation: null });
        await assert.rejects(store.addEnrollmentToken({ ...token, usedAtMs: null, usedByStation: null }));
      });
    });

    describe('stations', () => {
      test('a station reads back as written', async () => {
        const full = station('ST-A', {
          lastSeenAtMs: t0 + 1,
          connectedSinceMs: t0 + 2,
          revokedAtMs: t0 + 3,
        });
        await store.addStation(full);
        await store.addStation(station('ST-B'));
        assert.deepEqual(await store.getStation('ST-A'), full);
        assert.deepEqual(await store.getStation('ST-B'), station('ST-B'));
        assert.equal(await store.getStation('ST-C'), undefined);
      });

      test('stations are listed by id', async () => {
        assert.deepEqual(await store.listStations(), []);
        for (const id of ['ST-C', 'ST-A', 'ST-B']) await store.addStation(station(id));
        assert.deepEqual(
          (await store.listStations()).map((s) => s.id),
          ['ST-A', 'ST-B', 'ST-C'],
        );
      });

      test('a station id is added once', async () => {
        await store.addStation(station('ST-A'));
        await assert.rejects(store.addStation(station('ST-A', { name: 'impostor' })));
        assert.equal((await store.getStation('ST-A'))?.name, 'appliance ST-A');
      });

      test('connecting and disconnecting set connectedSince and lastSeen', async () => {
        await store.addStation(station('ST-A'));
        await store.markStationConnected('ST-A', t0 + minuteMs);
        let read = await store.getStation('ST-A');
        assert.equal(read?.connectedSinceMs, t0 + minuteMs);
        assert.equal(read?.lastSeenAtMs, t0 + minuteMs);

        await store.markStationDisconnected('ST-A', t0 + 5 * minuteMs);
        read = await store.getStation('ST-A');
        assert.equal(read?.connectedSinceMs, null);
        assert.equal(read?.lastSeenAtMs, t0 + 5 * minuteMs);
      });

      test('marking an unknown station does not create it', async () => {
        await store.markStationConnected('ST-X', t0);
        await store.markStationDisconnected('ST-X', t0);
        assert.equal(await store.getStation('ST-X'), undefined);
      });

      test('clearConnections disconnects the connected stations only', async () => {
        await store.addStation(station('ST-A'));
        await store.addStation(station('ST-B'));
        await store.addStation(station('ST-C'));
        await store.markStationConnected('ST-A', t0 + 1);
        await store.markStationConnected('ST-B', t0 + 2);
        await store.markStationDisconnected('ST-B', t0 + 3);
        await store.markStationConnected('ST-C', t0 + 4);
        await store.clearConnections(t0 + 10);
        const byId = new Map((await store.listStations()).map((s) => [s.id, s]));
        assert.equal(byId.get('ST-A')?.connectedSinceMs, null);
        assert.equal(byId.get('ST-A')?.lastSeenAtMs, t0 + 10);
        assert.equal(byId.get('ST-C')?.connectedSinceMs, null);
        assert.equal(byId.get('ST-C')?.lastSeenAtMs, t0 + 10);
        // ST-B was seen last when it disconnected.
        assert.equal(byId.get('ST-B')?.lastSeenAtMs, t0 + 3);
      });
    });

    describe('users', () => {
      test('a user reads back with its groups', async () => {
        const alice = user('alice', ['admins', 'technicians'], { disabledAtMs: t0 + 1 });
        await store.addUser(alice);
        await store.addUser(user('bob', []));
        assert.deepEqual(await store.getUser('alice'), alice);
        assert.deepEqual(await store.getUser('bob'), user('bob', []));
        assert.equal(await store.getUser('carol'), undefined);
      });

      test('groups are returned sorted', async () => {
        await store.addUser(user('alice', ['technicians', 'admins', 'auditors']));
        assert.deepEqual((await store.getUser('alice'))?.groups, ['admins', 'auditors', 'technicians']);
      });

      test('users are listed by name with their groups', async () => {
        assert.deepEqual(await store.listUsers(), []);
        await store.addUser(user('carol', ['technicians']));
        await store.addUser(user('alice', ['admins']));
        await store.addUser(user('bob', []));
        assert.deepEqual(await store.listUsers(), [
          user('alice', ['admins']),
          user('bob', []),
          user('carol', ['technicians']),
        ]);
      });

      test('a user name is added once', async () => {
        await store.addUser(user('alice', ['admins']));
        await assert.rejects(store.addUser(user('alice', ['technicians'])));
        assert.deepEqual(await store.getUser('alice'), user('alice', ['admins']));
      });

      test('a user whose groups cannot be stored is not added at all', async () => {
        await assert.rejects(store.addUser(user('alice', ['admins', 'admins'])));
        assert.equal(await store.getUser('alice'), undefined);
      });
    });

    describe('API tokens', () => {
      test('a token reads back as written', async () => {
        await store.addUser(user('alice', []));
        const token = {
          id: 'tok-1',
          userName: 'alice',
          createdAtMs: t0,
          expiresAtMs: t0 + 90 * 24 * 60 * minuteMs,
          revokedAtMs: null,
        };
        await store.addApiToken(token);
        await store.addApiToken({ ...token, id: 'tok-2', revokedAtMs: t0 + 5 });
        assert.deepEqual(await store.getApiToken('tok-1'), token);
        assert.deepEqual(await store.getApiToken('tok-2'), { ...token, id: 'tok-2', revokedAtMs: t0 + 5 });
        assert.equal(await store.getApiToken('tok-3'), undefined);
      });

      test('a token for an unknown user is refused', async () => {
        await assert.rejects(
          store.addApiToken({
            id: 'tok-1',
            userName: 'ghost',
            createdAtMs: t0,
            expiresAtMs: t0 + 1,
            revokedAtMs: null,
          }),
        );
        assert.equal(await store.getApiToken('tok-1'), undefined);
      });
    });

    describe('audit', () => {
      const entries = [
        { atMs: t0 + 1000, actor: 'alice', action: 'user.login', stationId: null, detail: {} },
        {
          atMs: t0 + 2000,
          actor: 'alice',
          action: 'session.start',
          stationId: 'ST-A',
          detail: { service: 'ssh', reason: 'case «4711»', bytes: [1, 2], nested: { ok: true, none: null } },
        },
        { atMs: t0 + 2000, actor: 'hub', action: 'station.connected', stationId: 'ST-B', detail: { n: 1 } },
        {
          atMs: t0 + 3000,
          actor: 'bob',
          action: 'session.end',
          stationId: 'ST-A',
          detail: { code: 'closed' },
        },
      ];

      async function appendAll(): Promise<void> {
        for (const entry of entries) await store.appendAudit(entry);
      }

      test('entries are listed in order of appending with increasing seq', async () => {
        assert.deepEqual(await store.listAudit(), []);
        await appendAll();
        const listed = await store.listAudit();
        assert.deepEqual(
          listed.map(({ seq: _seq, ...rest }) => rest),
          entries,
        );
        for (let i = 1; i < listed.length; i++) {
          assert.ok((listed[i]?.seq ?? 0) > (listed[i - 1]?.seq ?? Infinity), `seq at ${i}`);
        }
      });

      test('since keeps entries at or after the time', async () => {
        await appendAll();
        assert.deepEqual(
          (await store.listAudit({ sinceMs: t0 + 2000 })).map((e) => e.action),
          ['session.start', 'station.connected', 'session.end'],
        );
        assert.deepEqual(await store.listAudit({ sinceMs: t0 + 3001 }), []);
      });

      test('limit keeps the oldest entries, also together with since', async () => {
        await appendAll();
        assert.deepEqual(
          (await store.listAudit({ limit: 2 })).map((e) => e.action),
          ['user.login', 'session.start'],
        );
        assert.deepEqual(
          (await store.listAudit({ sinceMs: t0 + 2000, limit: 2 })).map((e) => e.action),
          ['session.start', 'station.connected'],
        );
      });
    });

    describe('sessions', () => {
      const end = {
        endedAtMs: t0 + 9 * minuteMs,
        endReason: 'closed',
        // Over 32 bits, as a long file transfer gets.
        bytesToStation: 5_000_000_000,
        bytesFromStation: 123_456,
      };

      async function startThree(): Promise<void> {
        await store.recordSessionStart(session('s1', t0 + minuteMs));
        await store.recordSessionStart({ ...session('s2', t0 + 2 * minuteMs), reason: null });
        await store.recordSessionStart(session('s3', t0 + 3 * minuteMs));
      }

      test('sessions are listed newest first, with how they ended', async () => {
        assert.deepEqual(await store.listSessions(), []);
        await startThree();
        await store.recordSessionEnd('s2', end);
        assert.deepEqual(await store.listSessions(), [
          session('s3', t0 + 3 * minuteMs),
          { ...session('s2', t0 + 2 * minuteMs), reason: null, ...end },
          session('s1', t0 + minuteMs),
        ]);
      });

      test('activeOnly leaves out ended sessions', async () => {
        await startThree();
        await store.recordSessionEnd('s2', end);
        assert.deepEqual(
          (await store.listSessions({ activeOnly: true })).map((s) => s.id),
          ['s3', 's1'],
        );
        await store.recordSessionEnd('s1', end);
        await store.recordSessionEnd('s3', end);
        assert.deepEqual(await store.listSessions({ activeOnly: true }), []);
        assert.equal((await store.listSessions()).length, 3);
      });

      test('limit keeps the newest sessions', async () => {
        await startThree();
        assert.deepEqual(
          (await store.listSessions({ limit: 2 })).map((s) => s.id),
          ['s3', 's2'],
        );
        await store.recordSessionEnd('s3', end);
        assert.deepEqual(
          (await store.listSessions({ activeOnly: true, limit: 1 })).map((s) => s.id),
          ['s2'],
        );
      });

      test('a session id is recorded once', async () => {
        await store.recordSessionStart(session('s1', t0));
        await assert.rejects(store.recordSessionStart(session('s1', t0 + 1)));
      });
    });
  });
}

const sqliteDir = mkdtempSync(join(tmpdir(), 'lifeline-hub-store-'));
let sqliteFiles = 0;
after(() => rmSync(sqliteDir, { recursive: true, force: true }));

runHubStoreSuite('SQLite hub store', () => openSqliteHubStore(join(sqliteDir, `hub-${++sqliteFiles}.db`)));
