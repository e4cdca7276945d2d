import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ManualClock } from '../../common/clock.js';
import type { ReportEnvelope } from '../../protocol/index.js';
import { openSqliteHubStore } from '../store/index.js';
import { type HubStore } from '../store/index.js';
import { retentionDefaults } from './retention-config.js';
import { DirectoryBlobStore } from '../attachments/index.js';
import {
  formatPeriod,
  planRetention,
  problemDataPurger,
  runRetention,
  type PurgeProblemData,
} from './retention.js';

const day = 86_400_000;
const t0 = Date.UTC(2026, 0, 10);
let counter = 0;

function envelope(kind: ReportEnvelope['kind'], payload: Record<string, unknown>): ReportEnvelope {
  counter += 1;
  return { id: counter.toString(16).padStart(32, '0'), kind, createdAtMs: t0, orderKey: null, payload };
}

async function withStore(
  work: (store: HubStore, clock: ManualClock, dir: string) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-retention-'));
  const store = await openSqliteHubStore(join(dir, 'hub.db'));
  try {
    await work(store, new ManualClock(t0), dir);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function ingest(
  store: HubStore,
  station: string,
  kind: ReportEnvelope['kind'],
  payload: Record<string, unknown>,
  atMs: number,
): Promise<ReportEnvelope & { problemNumber?: string }> {
  const report = envelope(kind, payload);
  const result = await store.reports.ingest(station, report, JSON.stringify(report), 'h', atMs);
  return { ...report, ...(result.problemNumber ? { problemNumber: result.problemNumber } : {}) };
}

const item = (report: ReportEnvelope) => ({ envelope: report, body: JSON.stringify(report), sha256: 'h' });

const openProblem = (store: HubStore, station: string, localId: string, atMs: number) =>
  ingest(
    store,
    station,
    'problem.open',
    { localId, summary: 'Fan failed', severity: 'major', occurredAtMs: atMs },
    atMs,
  );

const { interval: _interval, ...config } = retentionDefaults;
const run = (store: HubStore, clock: ManualClock, nowMs: number, purgeProblemData?: PurgeProblemData) =>
  runRetention({ store, config, nowMs, clock, actor: 'test', purgeProblemData });

test('the plan: each rule cuts off at now minus its period', () => {
  const plan = planRetention(config, t0);
  assert.equal(plan.problemData.cutoffMs, t0 - 3 * day);
  assert.equal(plan.closedProblems.cutoffMs, t0 - 60 * day);
  assert.equal(plan.inventory.cutoffMs, t0 - 5 * 365 * day);
  assert.equal(plan.performance.cutoffMs, t0 - 5 * 365 * day);
  assert.deepEqual([3 * day, 60 * day, 5 * 365 * day, 90 * 60_000, 36 * 3_600_000].map(formatPeriod), [
    '3d',
    '60d',
    '5y',
    '90m',
    '36h',
  ]);
});

test('a closed problem stays 60 days after closure and goes, with its reports, at 61; open problems stay', async () => {
  await withStore(async (store, clock) => {
    const closed = await openProblem(store, 'ST-A', 'PB-AAAAAA', t0 - day);
    await ingest(store, 'ST-A', 'problem.update', { localId: 'PB-AAAAAA', note: 'fan replaced' }, t0 - day);
    await ingest(store, 'ST-A', 'problem.close', { localId: 'PB-AAAAAA' }, t0);
    const open = await openProblem(store, 'ST-A', 'PB-BBBBBB', t0 - 400 * day);
    assert.equal((await store.reports.getProblem(closed.problemNumber ?? ''))?.reports.length, 3);

    const at60 = await run(store, clock, t0 + 60 * day);
    assert.equal(at60.removed.closedProblems.problems, 0);
    assert.ok(await store.reports.getProblem(closed.problemNumber ?? ''));

    const at61 = await run(store, clock, t0 + 61 * day);
    assert.deepEqual(at61.removed.closedProblems, {
      problems: 1,
      reports: 3,
      problemNumbers: [closed.problemNumber],
    });
    assert.equal(await store.reports.getProblem(closed.problemNumber ?? ''), undefined);
    const kept = await store.reports.getProblem(open.problemNumber ?? '');
    assert.equal(kept?.problem.state, 'open');
    assert.equal(kept.reports.length, 1);

    const audit = await store.listAudit();
    const purge = audit.filter((e) => e.action === 'retention.purge');
    assert.equal(purge.length, 1);
    assert.equal(purge[0]?.detail.rule, 'closedProblems');
    assert.deepEqual(purge[0]?.detail.problemNumbers, [closed.problemNumber]);
    assert.equal(purge[0]?.detail.keep, '60d');
    assert.equal(audit.filter((e) => e.action === 'retention.run').length, 2);
  });
});

test('inventory, performance and heartbeats go after their period; the latest inventory of each station stays', async () => {
  await withStore(async (store, clock) => {
    const oldA = await ingest(store, 'ST-A', 'inventory', { n: 1 }, t0);
    const newA = await ingest(store, 'ST-A', 'inventory', { n: 2 }, t0 + day);
    const onlyB = await ingest(store, 'ST-B', 'inventory', { n: 3 }, t0);
    const perf = await ingest(store, 'ST-A', 'performance', { cpu: 1 }, t0);
    const beat = await ingest(store, 'ST-A', 'heartbeat', { ok: true }, t0);
    const recentPerf = await ingest(store, 'ST-A', 'performance', { cpu: 2 }, t0 + 10 * day);
    const generic = await ingest(store, 'ST-A', 'generic', { type: 'maintenance' }, t0);

    const early = await run(store, clock, t0 + 5 * 365 * day);
    assert.equal(early.removed.inventory.reports + early.removed.performance.reports, 0);

    const later = await run(store, clock, t0 + 5 * 365 * day + 2 * day);
    assert.equal(later.removed.inventory.reports, 1);
    assert.equal(later.removed.performance.reports, 1);
    assert.equal(later.removed.heartbeats.reports, 1);

    // Much later, still one inventory per station: only the recent performance report goes.
    const muchLater = await run(store, clock, t0 + 50 * 365 * day);
    assert.deepEqual([muchLater.removed.inventory.reports, muchLater.removed.performance.reports], [0, 1]);
    // A report the store still holds is answered as a duplicate (asked last: one it no longer
    // holds is stored again).
    const held = async (station: string, reports: ReportEnvelope[]) =>
      (await store.reports.ingestMany(station, reports.map(item), t0)).map(
        (answer) => !(answer instanceof Error) && answer.duplicate,
      );
    assert.deepEqual(await held('ST-A', [oldA, newA, perf, beat, recentPerf, generic]), [
      false,
      true,
      false,
      false,
      false,
      true,
    ]);
    assert.deepEqual(await held('ST-B', [onlyB]), [true]);
  });
});

test('problem data files go 3 days after receipt: the file is removed, its row kept as purged, the purge audited', async () => {
  await withStore(async (store, clock, dir) => {
    const problem = await openProblem(store, 'ST-A', 'PB-AAAAAA', t0);
    const content = Buffer.from('controller dump');
    const id = 'ab'.repeat(16);
    await store.attachments.start(
      'ST-A',
      {
        id,
        problemLocalId: 'PB-AAAAAA',
        name: 'dump.bin',
        bytes: content.length,
        sha256: createHash('sha256').update(content).digest('hex'),
        chunkBytes: 65_536,
      },
      t0,
    );
    await store.attachments.advance(id, 0, content.length, t0);
    await store.attachments.markComplete(id, t0);
    const attachmentsDir = join(dir, 'attachments');
    const file = join(attachmentsDir, 'ST-A', id);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
    const purge = problemDataPurger(store, new DirectoryBlobStore(attachmentsDir));

    const at3d = await run(store, clock, t0 + 3 * day, purge);
    assert.equal(at3d.removed.problemData.files, 0);
    assert.ok(existsSync(file));

    const after = await run(store, clock, t0 + 3 * day + 1, purge);
    assert.deepEqual(after.removed.problemData, {
      files: 1,
      bytes: content.length,
      attachmentIds: [id],
      problemNumbers: [problem.problemNumber],
      unfinished: { uploads: 0, bytes: 0, attachmentIds: [] },
    });
    assert.equal(existsSync(file), false);
    assert.equal((await store.attachments.get(id))?.state, 'purged');
    // The report stays: only its data went.
    assert.equal((await store.reports.getProblem(problem.problemNumber ?? ''))?.reports.length, 1);
    const entry = (await store.listAudit()).find((e) => e.action === 'retention.purge');
    assert.equal(entry?.detail.rule, 'problemData');
    assert.deepEqual(entry?.detail.attachmentIds, [id]);
  });
});

test('an upload left unfinished loses its partial file once idle for the problem data period, and resumes from byte 0', async () => {
  await withStore(async (store, clock, dir) => {
    const problem = await openProblem(store, 'ST-A', 'PB-AAAAAA', t0);
    const attachmentsDir = join(dir, 'attachments');
    const chunkBytes = 65_536;
    const startUpload = async (id: string, atMs: number, received: number): Promise<string> => {
      await store.attachments.start(
        'ST-A',
        {
          id,
          problemLocalId: 'PB-AAAAAA',
          name: `${id.slice(0, 4)}.bin`,
          bytes: 4 * chunkBytes,
          sha256: 'f'.repeat(64),
          chunkBytes,
        },
        atMs,
      );
      if (received > 0) await store.attachments.advance(id, 0, received, atMs);
      // Where the directory store keeps an unfinished upload's bytes.
      const file = join(attachmentsDir, 'ST-A', `${id}.part`);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, Buffer.alloc(received, 7));
      return file;
    };
    // Left after two chunks on day 0; another still going on day 2; a third started on day 0 and
    // never sent a byte.
    const left = 'a1'.repeat(16);
    const leftFile = await startUpload(left, t0, 2 * chunkBytes);
    const going = 'b2'.repeat(16);
    const goingFile = await startUpload(going, t0 + 2 * day, chunkBytes);
    const empty = 'c3'.repeat(16);
    await startUpload(empty, t0, 0);
    const purge = problemDataPurger(store, new DirectoryBlobStore(attachmentsDir));

    const at3d = await run(store, clock, t0 + 3 * day, purge);
    assert.equal(at3d.removed.problemData.unfinished.uploads, 0, 'idle exactly the period: kept');
    assert.ok(existsSync(leftFile));

    const after = await run(store, clock, t0 + 3 * day + 1, purge);
    assert.deepEqual(after.removed.problemData.unfinished, {
      uploads: 1,
      bytes: 2 * chunkBytes,
      attachmentIds: [left],
    });
    assert.equal(after.removed.problemData.files, 0, 'no complete upload was purged');
    assert.equal(existsSync(leftFile), false);
    const reset = await store.attachments.get(left);
    assert.equal(reset?.state, 'receiving', 'the station may still come back and send it');
    assert.equal(reset?.receivedBytes, 0);
    assert.ok(existsSync(goingFile));
    assert.equal((await store.attachments.get(going))?.receivedBytes, chunkBytes);
    const entry = (await store.listAudit()).find(
      (e) => e.action === 'retention.purge' && e.detail.unfinishedUploadsIdleSince !== undefined,
    );
    assert.deepEqual(entry?.detail.attachmentIds, [left]);
    assert.deepEqual(entry?.detail.problemNumbers, [problem.problemNumber]);
    assert.equal(entry?.detail.bytes, 2 * chunkBytes);

    // The next run finds nothing more to remove; the one still going goes once idle long enough.
    const again = await run(store, clock, t0 + 4 * day, purge);
    assert.equal(again.removed.problemData.unfinished.uploads, 0);
    const later = await run(store, clock, t0 + 5 * day + 1, purge);
    assert.deepEqual(later.removed.problemData.unfinished.attachmentIds, [going]);
  });
});

test('a problem number is never given again, even after the newest problem was purged', async () => {
  await withStore(async (store, clock) => {
    await openProblem(store, 'ST-A', 'PB-AAAAAA', t0);
    const newest = await openProblem(store, 'ST-A', 'PB-BBBBBB', t0);
    assert.equal(newest.problemNumber, 'P-000002');
    await ingest(store, 'ST-A', 'problem.close', { localId: 'PB-BBBBBB' }, t0);
    const result = await run(store, clock, t0 + 100 * day);
    assert.deepEqual(result.removed.closedProblems.problemNumbers, ['P-000002']);
    const next = await openProblem(store, 'ST-A', 'PB-CCCCCC', t0 + 100 * day);
    assert.equal(next.problemNumber, 'P-000003');
  });
});

test('a run that removes nothing is still recorded, and is the last run', async () => {
  await withStore(async (store, clock) => {
    clock.advance(5000);
    const summary = await run(store, clock, t0 + day);
    const runs = (await store.listAudit()).filter((e) => e.action.startsWith('retention.'));
    assert.deepEqual(
      runs.map((e) => e.action),
      ['retention.run'],
    );
    assert.equal(runs[0]?.atMs, t0 + 5000);
    assert.equal(runs[0]?.detail.asOf, new Date(t0 + day).toISOString());
    // The summary is saved whole, as JSON: `retention show` prints it as the run returned it.
    assert.deepEqual(await store.retention.lastRun(), JSON.parse(JSON.stringify(summary)));
    assert.deepEqual([summary.nowMs, summary.ranAtMs], [t0 + day, t0 + 5000]);
    assert.equal(summary.problemDataHandled, false);
  });
});

test('data requests of a purged problem go with it', async () => {
  await withStore(async (store, clock) => {
    const problem = await openProblem(store, 'ST-A', 'PB-AAAAAA', t0);
    const request = await store.dataRequests.create({
      problemNumber: problem.problemNumber ?? '',
      note: 'the syslog please',
      requestedBy: 'support',
      nowMs: t0,
    });
    await ingest(store, 'ST-A', 'problem.close', { localId: 'PB-AAAAAA' }, t0);
    await run(store, clock, t0 + 61 * day);
    assert.deepEqual(await store.dataRequests.listForProblem(problem.problemNumber ?? ''), []);
    assert.equal(request.problemNumber, problem.problemNumber);
  });
});
