// The contract of call-home reports, the problems they open, and what heartbeats, inventories and
// performance reports tell of a station's health.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inventoryDigest } from '../../../protocol/index.js';
import {
  dayMs,
  envelope,
  held,
  item,
  minuteMs,
  problemOpen,
  t0,
  useStore,
  type OpenHubStore,
} from './fixtures.js';

const code = (answer: unknown) => (answer as { code?: string }).code;

export function describeReports(open: OpenHubStore): void {
  describe('reports and problems', () => {
    const store = useStore(open);
    const reports = () => store().reports;

    test('a report id is stored once; the retry is a duplicate with the same problem number', async () => {
      const report = problemOpen('PB-AAAAAA');
      const first = await reports().ingest('ST-A', report, '{"x":1}', 'h1', t0);
      assert.deepEqual(first, { duplicate: false, problemNumber: 'P-000001' });
      const again = await reports().ingest('ST-A', report, '{"x":1}', 'h1', t0 + 1);
      assert.deepEqual(again, { duplicate: true, problemNumber: 'P-000001' });
      assert.deepEqual(
        (await reports().getProblem('P-000001'))?.reports.map((r) => [r.id, r.sha256, r.receivedAtMs]),
        [[report.id, 'h1', t0]],
      );
      await assert.rejects(reports().ingest('ST-B', report, '{}', 'h', t0), { code: 'API_BAD_REQUEST' });
    });

    test('a problem opens, is updated and closed by its station; unknown or repeated ones are refused', async () => {
      await reports().ingest('ST-A', problemOpen('PB-BBBBBB'), '{}', 'h', t0);
      await assert.rejects(reports().ingest('ST-A', problemOpen('PB-BBBBBB'), '{}', 'h', t0), {
        code: 'CALLHOME_REPORT_INVALID',
      });
      const update = envelope('problem.update', { localId: 'PB-BBBBBB', note: 'replaced' });
      await reports().ingest('ST-A', update, '{}', 'h', t0 + 5);
      const foreignClose = envelope('problem.close', { localId: 'PB-BBBBBB' });
      await assert.rejects(reports().ingest('ST-B', foreignClose, '{}', 'h', t0), {
        code: 'CALLHOME_REPORT_INVALID',
      });
      const close = envelope('problem.close', { localId: 'PB-BBBBBB' });
      assert.equal((await reports().ingest('ST-A', close, '{}', 'h', t0 + 9)).problemNumber, 'P-000001');
      const shown = await reports().getProblem('P-000001');
      assert.deepEqual(shown?.problem, {
        number: 'P-000001',
        stationId: 'ST-A',
        localId: 'PB-BBBBBB',
        summary: 'Fan failed',
        severity: 'major',
        referenceCode: null,
        systemSerial: 'SN-1',
        state: 'closed',
        openedAtMs: t0,
        updatedAtMs: t0 + 9,
        closedAtMs: t0 + 9,
      });
      assert.deepEqual(
        shown.reports.map((r) => r.kind),
        ['problem.open', 'problem.update', 'problem.close'],
      );
      assert.deepEqual(await reports().listProblems({ open: true }), []);
      assert.equal(await reports().getProblem('P-000002'), undefined);
    });

    test('problems are listed newest first; support closes an open one once', async () => {
      for (const localId of ['PB-AAAAAA', 'PB-BBBBBB', 'PB-CCCCCC'])
        await reports().ingest('ST-A', problemOpen(localId), '{}', 'h', t0);
      assert.deepEqual(
        (await reports().listProblems()).map((p) => p.number),
        ['P-000003', 'P-000002', 'P-000001'],
      );
      assert.equal(await reports().closeProblem('P-000002', t0 + minuteMs), true);
      assert.equal(await reports().closeProblem('P-000002', t0 + 2 * minuteMs), false);
      assert.equal(await reports().closeProblem('P-000009', t0), false);
      assert.equal((await reports().getProblem('P-000002'))?.problem.closedAtMs, t0 + minuteMs);
      assert.deepEqual(
        (await reports().listProblems({ open: true })).map((p) => p.number),
        ['P-000003', 'P-000001'],
      );
    });

    test('1,000 distinct reports are all kept, concurrent copies of one id once', async () => {
      const many = Array.from({ length: 1000 }, () => envelope('generic', { type: 'x' }));
      await Promise.all(many.map((r) => reports().ingest('ST-A', r, '{}', 'h', t0)));
      const one = envelope('generic', { type: 'y' });
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => reports().ingest('ST-A', one, '{}', 'h', t0)),
      );
      assert.equal(answers.filter((a) => !a.duplicate).length, 1);
      assert.ok((await held(store(), 'ST-A', [...many, one], t0)).every(Boolean));
    });

    test('a batch is stored in one go, each report answered on its own, in order', async () => {
      const earlier = envelope('generic', { type: 'x' });
      await reports().ingest('ST-A', earlier, '{"earlier":1}', 'h0', t0);
      const plain = envelope('generic', { type: 'y' });
      const opened = problemOpen('PB-CCCCCC');
      const update = envelope('problem.update', { localId: 'PB-CCCCCC', note: 'more' });
      const orphan = envelope('problem.update', { localId: 'PB-ZZZZZZ', note: 'no such problem' });
      const results = await reports().ingestMany(
        'ST-A',
        [earlier, plain, opened, update, orphan, plain].map((r) => item(r)),
        t0 + 10,
      );
      assert.deepEqual(results.slice(0, 4), [
        { duplicate: true },
        { duplicate: false },
        { duplicate: false, problemNumber: 'P-000001' },
        { duplicate: false, problemNumber: 'P-000001' },
      ]);
      assert.equal(code(results[4]), 'CALLHOME_REPORT_INVALID');
      assert.deepEqual(results[5], { duplicate: true }, 'the same id twice in one batch is stored once');
      assert.deepEqual(
        (await reports().getProblem('P-000001'))?.reports.map((r) => [r.id, r.sha256, r.receivedAtMs]),
        [
          [opened.id, `sha-${opened.id}`, t0 + 10],
          [update.id, `sha-${update.id}`, t0 + 10],
        ],
      );
      const other = await reports().ingestMany('ST-B', [item(plain)], t0 + 20);
      assert.equal(code(other[0]), 'API_BAD_REQUEST');
      assert.deepEqual(await held(store(), 'ST-A', [plain], t0 + 30), [true]);
    });
  });

  describe('station health', () => {
    const store = useStore(open);
    const health = () => store().health;
    const heartbeat = (intervalMs: number, status: 'ok' | 'warning' = 'ok') =>
      envelope('heartbeat', {
        atMs: t0,
        uptimeSeconds: 5,
        intervalMs,
        systems: [{ serial: 'SN-1', status }],
      });
    const ingest = (stationId: string, report: ReturnType<typeof envelope>, nowMs: number) =>
      store().reports.ingest(stationId, report, JSON.stringify(report), 'h', nowMs);

    test('a heartbeat records the station health; a later one updates it', async () => {
      assert.deepEqual(await health().listHealth(), []);
      await ingest('ST-B', heartbeat(120_000), t0);
      await ingest('ST-A', heartbeat(60_000), t0 + 1);
      await ingest('ST-A', heartbeat(300_000, 'warning'), t0 + minuteMs);
      // A heartbeat delivered again changes nothing.
      const again = heartbeat(60_000);
      await ingest('ST-A', again, t0 + 2 * minuteMs);
      await ingest('ST-A', again, t0 + 3 * minuteMs);
      assert.deepEqual(await health().listHealth(), [
        {
          stationId: 'ST-A',
          lastHeartbeatAtMs: t0 + 2 * minuteMs,
          heartbeatIntervalMs: 60_000,
          systems: [{ serial: 'SN-1', status: 'ok' }],
          silentSinceMs: null,
        },
        {
          stationId: 'ST-B',
          lastHeartbeatAtMs: t0,
          heartbeatIntervalMs: 120_000,
          systems: [{ serial: 'SN-1', status: 'ok' }],
          silentSinceMs: null,
        },
      ]);
    });

    test('silent is marked once and only while no heartbeat came; heard is cleared once', async () => {
      await ingest('ST-A', heartbeat(60_000), t0);
      // A heartbeat came since t0 was read: not silent.
      await ingest('ST-A', heartbeat(60_000), t0 + minuteMs);
      assert.equal(await health().markSilent('ST-A', t0, t0 + 10 * minuteMs), false);
      assert.equal(await health().markSilent('ST-A', t0 + minuteMs, t0 + 10 * minuteMs), true);
      assert.equal(await health().markSilent('ST-A', t0 + minuteMs, t0 + 11 * minuteMs), false);
      assert.equal((await health().listHealth())[0]?.silentSinceMs, t0 + 10 * minuteMs);
      // A new heartbeat leaves the mark to the one who clears it (and says so in the audit log).
      await ingest('ST-A', heartbeat(60_000), t0 + 12 * minuteMs);
      assert.equal((await health().listHealth())[0]?.silentSinceMs, t0 + 10 * minuteMs);
      assert.equal(await health().markHeard('ST-A'), true);
      assert.equal(await health().markHeard('ST-A'), false);
      assert.equal((await health().listHealth())[0]?.silentSinceMs, null);
      assert.equal(await health().markSilent('ST-X', t0, t0), false);
    });

    test("the latest inventory is the station's newest by creation, read from its report", async () => {
      const inventory = (hostName: string) => {
        const appliance = {
          hostName,
          os: 'Linux',
          kernel: '6.1',
          cpu: { model: 'x86', count: 4 },
          memoryBytes: 8_000_000_000,
          lifelineVersion: '0.1.0',
        };
        return {
          collectedAtMs: t0,
          digest: inventoryDigest({ appliance, systems: [] }),
          appliance,
          systems: [],
        };
      };
      assert.equal(await health().latestInventory('ST-A'), undefined);
      const older = envelope('inventory', inventory('old'), t0);
      const newer = envelope('inventory', inventory('new'), t0 + dayMs);
      await ingest('ST-A', newer, t0 + dayMs);
      // Delivered late: made before the newest, so not the latest.
      await ingest('ST-A', older, t0 + 2 * dayMs);
      await ingest('ST-B', envelope('inventory', inventory('b'), t0 + 3 * dayMs), t0 + 3 * dayMs);
      assert.deepEqual(await health().latestInventory('ST-A'), {
        reportId: newer.id,
        createdAtMs: t0 + dayMs,
        receivedAtMs: t0 + dayMs,
        inventory: inventory('new'),
      });
    });

    test('performance samples in a time range, of one source or all, oldest first', async () => {
      const sample = (atMs: number, utilizationPct: number) => ({
        atMs,
        spanMs: 60_000,
        cpu: { utilizationPct },
      });
      const report = (source: string, createdAtMs: number, samples: ReturnType<typeof sample>[]) =>
        envelope('performance', { source, samples }, createdAtMs);
      await ingest(
        'ST-A',
        report('host', t0 + 10 * minuteMs, [sample(t0 + 5 * minuteMs, 50), sample(t0 + 9 * minuteMs, 90)]),
        t0,
      );
      await ingest('ST-A', report('SN-1', t0 + 8 * minuteMs, [sample(t0 + 7 * minuteMs, 70)]), t0);
      await ingest('ST-A', report('host', t0 + minuteMs, [sample(t0, 10)]), t0);
      await ingest('ST-B', report('host', t0 + 10 * minuteMs, [sample(t0 + 6 * minuteMs, 60)]), t0);
      const all = await health().performanceSamples('ST-A', t0 + 5 * minuteMs, t0 + 8 * minuteMs);
      assert.deepEqual(
        all.map((s) => [s.source, s.sample.cpu?.utilizationPct]),
        [
          ['host', 50],
          ['SN-1', 70],
        ],
      );
      const host = await health().performanceSamples('ST-A', t0, t0 + 10 * minuteMs, { source: 'host' });
      assert.deepEqual(
        host.map((s) => s.sample.cpu?.utilizationPct),
        [10, 50, 90],
      );
    });
  });
}
