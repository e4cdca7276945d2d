import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReportEnvelope } from '../../protocol/index.js';
import { openSqliteHubStore } from './sqlite-hub-store.js';
import { type HubStore } from './hub-store.js';

const t0 = Date.UTC(2026, 10, 25);
let counter = 0;

function envelope(kind: ReportEnvelope['kind'], payload: Record<string, unknown>): ReportEnvelope {
  counter += 1;
  return { id: counter.toString(16).padStart(32, '0'), kind, createdAtMs: t0, orderKey: null, payload };
}

async function withStore(work: (store: HubStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-hub-reports-'));
  const store = await openSqliteHubStore(join(dir, 'hub.db'));
  try {
    await work(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const open = (localId: string) =>
  envelope('problem.open', {
    localId,
    summary: 'Fan failed',
    severity: 'major',
    occurredAtMs: t0,
    system: { serial: 'SN-1' },
  });

test('a report id is stored once; the retry is a duplicate with the same problem number', async () => {
  await withStore(async (store) => {
    const report = open('PB-AAAAAA');
    const first = await store.reports.ingest('ST-A', report, '{"x":1}', 'h', t0);
    assert.deepEqual(first, { duplicate: false, problemNumber: 'P-000001' });
    const again = await store.reports.ingest('ST-A', report, '{"x":1}', 'h', t0 + 1);
    assert.deepEqual(again, { duplicate: true, problemNumber: 'P-000001' });
    assert.equal(await store.reports.countReports('ST-A'), 1);
    await assert.rejects(store.reports.ingest('ST-B', report, '{}', 'h', t0), { code: 'API_BAD_REQUEST' });
  });
});

test('a problem opens, is updated and closed by its station; unknown or repeated ones are refused', async () => {
  await withStore(async (store) => {
    await store.reports.ingest('ST-A', open('PB-BBBBBB'), '{}', 'h', t0);
    await assert.rejects(store.reports.ingest('ST-A', open('PB-BBBBBB'), '{}', 'h', t0), {
      code: 'CALLHOME_REPORT_INVALID',
    });
    await store.reports.ingest(
      'ST-A',
      envelope('problem.update', { localId: 'PB-BBBBBB', note: 'replaced' }),
      '{}',
      'h',
      t0 + 5,
    );
    await assert.rejects(
      store.reports.ingest('ST-B', envelope('problem.close', { localId: 'PB-BBBBBB' }), '{}', 'h', t0),
      {
        code: 'CALLHOME_REPORT_INVALID',
      },
    );
    const closed = await store.reports.ingest(
      'ST-A',
      envelope('problem.close', { localId: 'PB-BBBBBB' }),
      '{}',
      'h',
      t0 + 9,
    );
    assert.equal(closed.problemNumber, 'P-000001');
    const shown = await store.reports.getProblem('P-000001');
    assert.equal(shown?.problem.state, 'closed');
    assert.equal(shown?.problem.closedAtMs, t0 + 9);
    assert.equal(shown?.reports.length, 3);
    assert.deepEqual(await store.reports.listProblems({ open: true }), []);
  });
});

test('1,000 distinct reports are all kept, concurrent copies of one id once', async () => {
  await withStore(async (store) => {
    await Promise.all(
      Array.from({ length: 1000 }, () =>
        store.reports.ingest('ST-A', envelope('generic', {}), '{}', 'h', t0),
      ),
    );
    assert.equal(await store.reports.countReports(), 1000);
    const one = envelope('heartbeat', {});
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => store.reports.ingest('ST-A', one, '{}', 'h', t0)),
    );
    assert.equal(answers.filter((a) => !a.duplicate).length, 1);
    assert.equal(await store.reports.countReports(), 1001);
  });
});

test('a batch is stored in one go, each report answered on its own, in order', async () => {
  await withStore(async (store) => {
    const earlier = envelope('generic', { type: 'x' });
    await store.reports.ingest('ST-A', earlier, '{"earlier":1}', 'h0', t0);
    const plain = envelope('generic', { type: 'y' });
    const opened = open('PB-CCCCCC');
    const update = envelope('problem.update', { localId: 'PB-CCCCCC', note: 'more' });
    const orphan = envelope('problem.update', { localId: 'PB-ZZZZZZ', note: 'no such problem' });
    const item = (e: ReportEnvelope) => ({ envelope: e, body: JSON.stringify(e), sha256: `sha-${e.id}` });
    const results = await store.reports.ingestMany(
      'ST-A',
      [earlier, plain, opened, update, orphan, plain].map(item),
      t0 + 10,
    );
    assert.deepEqual(results.slice(0, 4), [
      { duplicate: true },
      { duplicate: false },
      { duplicate: false, problemNumber: 'P-000001' },
      { duplicate: false, problemNumber: 'P-000001' },
    ]);
    assert.equal((results[4] as { code?: string }).code, 'CALLHOME_REPORT_INVALID');
    assert.deepEqual(results[5], { duplicate: true }, 'the same id twice in one batch is stored once');
    assert.equal(await store.reports.countReports('ST-A'), 4);
    const stored = await store.reports.getReport(plain.id);
    assert.equal(stored?.body, JSON.stringify(plain));
    assert.equal(stored?.sha256, `sha-${plain.id}`);
    const other = await store.reports.ingestMany('ST-B', [item(plain)], t0 + 20);
    assert.equal((other[0] as { code?: string }).code, 'API_BAD_REQUEST');
  });
});
