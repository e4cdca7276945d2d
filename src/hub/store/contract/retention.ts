// The contract of what retention removes: closed problems with their reports and data requests,
// aged reports of a kind, each purge with its audit entry; and the counters that outlive them.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HubAuditEntry } from '../hub-store.js';
import { dayMs, envelope, held, openProblem, t0, useStore, type OpenHubStore } from './fixtures.js';

const purgeEntry = (detail: Record<string, unknown>): Omit<HubAuditEntry, 'seq'> => ({
  atMs: t0,
  actor: 'hub',
  action: 'retention.purge',
  stationId: null,
  detail,
});

export function describeRetention(open: OpenHubStore): void {
  describe('retention', () => {
    const store = useStore(open);
    const retention = () => store().retention;
    const close = (stationId: string, localId: string, atMs: number) => {
      const report = envelope('problem.close', { localId });
      return store().reports.ingest(stationId, report, '{}', 'h', atMs);
    };

    test('closed problems go with their reports and data requests, oldest closure first; open ones stay', async () => {
      const first = await openProblem(store(), 'ST-A', 'PB-AAAAAA', t0);
      const second = await openProblem(store(), 'ST-A', 'PB-BBBBBB', t0);
      const recent = await openProblem(store(), 'ST-B', 'PB-CCCCCC', t0);
      const stays = await openProblem(store(), 'ST-A', 'PB-DDDDDD', t0 - 400 * dayMs);
      await store().dataRequests.create({ problemNumber: first, note: 'logs', requestedBy: 's', nowMs: t0 });
      await close('ST-A', 'PB-BBBBBB', t0 + dayMs);
      await close('ST-A', 'PB-AAAAAA', t0 + 2 * dayMs);
      await close('ST-B', 'PB-CCCCCC', t0 + 9 * dayMs);

      const one = await retention().purgeClosedProblems(t0 + 5 * dayMs, 1, (removed) =>
        purgeEntry({ ...removed }),
      );
      assert.deepEqual(one, { problemNumbers: [second], reports: 2 });
      const rest = await retention().purgeClosedProblems(t0 + 5 * dayMs, 10);
      assert.deepEqual(rest, { problemNumbers: [first], reports: 2 });
      assert.deepEqual(await retention().purgeClosedProblems(t0 + 5 * dayMs, 10), {
        problemNumbers: [],
        reports: 0,
      });

      assert.equal(await store().reports.getProblem(first), undefined);
      assert.deepEqual(await store().dataRequests.listForProblem(first), []);
      assert.equal((await store().reports.getProblem(recent))?.problem.state, 'closed');
      assert.equal((await store().reports.getProblem(stays))?.problem.state, 'open');
      const purges = (await store().listAudit()).filter((e) => e.action === 'retention.purge');
      assert.deepEqual(
        purges.map((e) => e.detail),
        [{ problemNumbers: [second], reports: 2 }],
      );
    });

    test('a problem number is never given again, even after the newest problem was purged', async () => {
      await openProblem(store(), 'ST-A', 'PB-AAAAAA');
      assert.equal(await openProblem(store(), 'ST-A', 'PB-BBBBBB'), 'P-000002');
      await close('ST-A', 'PB-BBBBBB', t0);
      await retention().purgeClosedProblems(t0 + dayMs, 10);
      assert.equal(await openProblem(store(), 'ST-A', 'PB-CCCCCC'), 'P-000003');
    });

    test("reports of a kind go after their cutoff; with keepLatestPerStation each station's newest stays", async () => {
      const at = (kind: 'inventory' | 'heartbeat' | 'generic', stationId: string, receivedAtMs: number) => {
        const report = envelope(kind, { n: receivedAtMs });
        return store()
          .reports.ingest(stationId, report, JSON.stringify(report), 'h', receivedAtMs)
          .then(() => report);
      };
      const oldA = await at('inventory', 'ST-A', t0);
      const olderA = await at('inventory', 'ST-A', t0 - dayMs);
      const newA = await at('inventory', 'ST-A', t0 + dayMs);
      const onlyB = await at('inventory', 'ST-B', t0);
      const beat = await at('heartbeat', 'ST-A', t0);
      const recentBeat = await at('heartbeat', 'ST-A', t0 + 10 * dayMs);
      const generic = await at('generic', 'ST-A', t0);

      const cutoff = t0 + 5 * dayMs;
      const keep = { limit: 1, keepLatestPerStation: true };
      assert.deepEqual(await retention().purgeReports('inventory', cutoff, keep, (r) => purgeEntry(r)), {
        reports: 1,
      });
      assert.deepEqual(await retention().purgeReports('inventory', cutoff, keep), { reports: 1 });
      assert.deepEqual(await retention().purgeReports('inventory', cutoff, keep), { reports: 0 });
      assert.deepEqual(await retention().purgeReports('heartbeat', cutoff, { limit: 10 }), { reports: 1 });
      assert.deepEqual(
        (await store().listAudit()).map((e) => e.detail),
        [{ reports: 1 }],
      );
      assert.deepEqual(await held(store(), 'ST-B', [onlyB], cutoff), [true]);
      assert.deepEqual(await held(store(), 'ST-A', [oldA, olderA, newA, beat, recentBeat, generic], cutoff), [
        false,
        false,
        true,
        false,
        true,
        true,
      ]);
    });

    test('the last run is kept with its audit entry and replaced by the next', async () => {
      assert.equal(await retention().lastRun(), undefined);
      await retention().saveLastRun({ nowMs: t0, removed: { reports: 3 } }, purgeEntry({ run: 1 }));
      await retention().saveLastRun({ nowMs: t0 + dayMs, removed: {} });
      assert.deepEqual(await retention().lastRun(), { nowMs: t0 + dayMs, removed: {} });
      assert.deepEqual(
        (await store().listAudit()).map((e) => e.detail),
        [{ run: 1 }],
      );
    });
  });
}
