// The contract of the hub's audit log and its session records.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HubSessionRecord } from '../hub-store.js';
import { minuteMs, t0, useStore, type OpenHubStore } from './fixtures.js';

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

export function describeAuditAndSessions(open: OpenHubStore): void {
  describe('audit', () => {
    const store = useStore(open);
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
      { atMs: t0 + 3000, actor: 'bob', action: 'session.end', stationId: 'ST-A', detail: { code: 'closed' } },
    ];

    async function appendAll(): Promise<void> {
      for (const entry of entries) await store().appendAudit(entry);
    }

    test('entries are listed in order of appending with increasing seq', async () => {
      assert.deepEqual(await store().listAudit(), []);
      await appendAll();
      const listed = await store().listAudit();
      assert.deepEqual(
        listed.map(({ seq: _seq, ...rest }) => rest),
        entries,
      );
      for (let i = 1; i < listed.length; i++)
        assert.ok((listed[i]?.seq ?? 0) > (listed[i - 1]?.seq ?? Infinity), `seq at ${i}`);
    });

    test('since keeps entries at or after the time', async () => {
      await appendAll();
      assert.deepEqual(
        (await store().listAudit({ sinceMs: t0 + 2000 })).map((e) => e.action),
        ['session.start', 'station.connected', 'session.end'],
      );
      assert.deepEqual(await store().listAudit({ sinceMs: t0 + 3001 }), []);
    });

    test('limit keeps the oldest entries, also together with since', async () => {
      await appendAll();
      assert.deepEqual(
        (await store().listAudit({ limit: 2 })).map((e) => e.action),
        ['user.login', 'session.start'],
      );
      assert.deepEqual(
        (await store().listAudit({ sinceMs: t0 + 2000, limit: 2 })).map((e) => e.action),
        ['session.start', 'station.connected'],
      );
    });
  });

  describe('sessions', () => {
    const store = useStore(open);
    const end = {
      endedAtMs: t0 + 9 * minuteMs,
      endReason: 'closed',
      // Over 32 bits, as a long file transfer gets.
      bytesToStation: 5_000_000_000,
      bytesFromStation: 123_456,
    };

    async function startThree(): Promise<void> {
      await store().recordSessionStart(session('s1', t0 + minuteMs));
      await store().recordSessionStart({ ...session('s2', t0 + 2 * minuteMs), reason: null });
      await store().recordSessionStart(session('s3', t0 + 3 * minuteMs));
    }

    test('sessions are listed newest first, with how they ended', async () => {
      assert.deepEqual(await store().listSessions(), []);
      await startThree();
      await store().recordSessionEnd('s2', end);
      assert.deepEqual(await store().listSessions(), [
        session('s3', t0 + 3 * minuteMs),
        { ...session('s2', t0 + 2 * minuteMs), reason: null, ...end },
        session('s1', t0 + minuteMs),
      ]);
    });

    test('activeOnly leaves out ended sessions', async () => {
      await startThree();
      await store().recordSessionEnd('s2', end);
      assert.deepEqual(
        (await store().listSessions({ activeOnly: true })).map((s) => s.id),
        ['s3', 's1'],
      );
      await store().recordSessionEnd('s1', end);
      await store().recordSessionEnd('s3', end);
      assert.deepEqual(await store().listSessions({ activeOnly: true }), []);
      assert.equal((await store().listSessions()).length, 3);
    });

    test('limit keeps the newest sessions', async () => {
      await startThree();
      assert.deepEqual(
        (await store().listSessions({ limit: 2 })).map((s) => s.id),
        ['s3', 's2'],
      );
      await store().recordSessionEnd('s3', end);
      assert.deepEqual(
        (await store().listSessions({ activeOnly: true, limit: 1 })).map((s) => s.id),
        ['s2'],
      );
    });

    test('a session id is recorded once, and a refused start writes no audit entry', async () => {
      const audit = { atMs: t0, actor: 'alice', action: 'session.start', stationId: 'ST-A', detail: {} };
      await store().recordSessionStart(session('s1', t0), audit);
      await assert.rejects(store().recordSessionStart(session('s1', t0 + 1), audit));
      await store().recordSessionEnd('s1', end, { ...audit, action: 'session.end' });
      assert.deepEqual(
        (await store().listAudit()).map((e) => e.action),
        ['session.start', 'session.end'],
      );
    });
  });
}
