import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  attachmentFilePath,
  deleteAttachment,
  purgeAttachmentsReceivedBefore,
} from '../attachments/index.js';
import type { AttachmentStart } from '../../protocol/index.js';
import { openSqliteHubStore } from './sqlite-hub-store.js';
import { type HubStore } from './hub-store.js';

const t0 = Date.UTC(2026, 10, 25);
const day = 86_400_000;
let counter = 0;

async function withStore(work: (store: HubStore, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-hub-attachments-'));
  const store = await openSqliteHubStore(join(dir, 'hub.db'));
  try {
    await work(store, dir);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function openProblem(store: HubStore, stationId: string, localId: string): Promise<string> {
  counter += 1;
  const result = await store.reports.ingest(
    stationId,
    {
      id: counter.toString(16).padStart(32, '0'),
      kind: 'problem.open',
      createdAtMs: t0,
      orderKey: localId,
      payload: { localId, summary: 'Disk failed', severity: 'major', occurredAtMs: t0 },
    },
    '{}',
    'h',
    t0,
  );
  return result.problemNumber ?? '';
}

function upload(extra: Partial<AttachmentStart> = {}): AttachmentStart {
  counter += 1;
  return {
    id: counter.toString(16).padStart(32, 'a'),
    problemLocalId: 'PB-AAAAAA',
    name: 'dump.tar',
    bytes: 300,
    sha256: 'b'.repeat(64),
    chunkBytes: 100,
    ...extra,
  };
}

test('start links the upload to its problem, is idempotent, and refuses other fields or an unknown problem', async () => {
  await withStore(async (store) => {
    const fields = upload();
    await assert.rejects(store.attachments.start('ST-A', fields, t0), {
      code: 'CALLHOME_ATTACHMENT_PROBLEM_UNKNOWN',
    });
    const number = await openProblem(store, 'ST-A', 'PB-AAAAAA');
    const first = await store.attachments.start('ST-A', fields, t0);
    assert.equal(first.created, true);
    assert.equal(first.attachment.problemNumber, number);
    assert.deepEqual([first.attachment.state, first.attachment.receivedBytes], ['receiving', 0]);
    const again = await store.attachments.start('ST-A', fields, t0 + 1);
    assert.equal(again.created, false);
    await assert.rejects(store.attachments.start('ST-A', { ...fields, bytes: 301 }, t0), {
      code: 'CALLHOME_ATTACHMENT_CONFLICT',
    });
    // The same id from another station is a conflict too, never a way into someone else's upload.
    await openProblem(store, 'ST-B', 'PB-AAAAAA');
    await assert.rejects(store.attachments.start('ST-B', fields, t0), {
      code: 'CALLHOME_ATTACHMENT_CONFLICT',
    });
    assert.deepEqual(
      (await store.attachments.listForProblem(number)).map((a) => a.id),
      [fields.id],
    );
  });
});

test("a new upload is checked against the station's unfinished ones; what counts, and a refusal stores nothing", async () => {
  await withStore(async (store) => {
    await openProblem(store, 'ST-A', 'PB-AAAAAA');
    await openProblem(store, 'ST-B', 'PB-AAAAAA');
    const seen: { uploads: number; bytes: number }[] = [];
    const admission = (countSinceMs: number, refuse = false) => ({
      countSinceMs,
      check: (pending: { uploads: number; bytes: number }) => {
        seen.push(pending);
        if (refuse) throw new Error('share used up');
      },
    });
    // Old and never sent a byte (or its bytes were dropped by retention): no longer counts.
    await store.attachments.start('ST-A', upload({ bytes: 7000 }), t0 - 5 * day);
    // Old, but holding received bytes: counts until retention drops them.
    const partial = (await store.attachments.start('ST-A', upload({ bytes: 300 }), t0 - 5 * day)).attachment;
    await store.attachments.advance(partial.id, 0, 100, t0 - 4 * day);
    // Recent, nothing received yet: counts.
    await store.attachments.start('ST-A', upload({ bytes: 20 }), t0 - day);
    // Complete: no longer pending.
    const done = (await store.attachments.start('ST-A', upload({ bytes: 100 }), t0 - day)).attachment;
    await store.attachments.advance(done.id, 0, 100, t0 - day);
    await store.attachments.markComplete(done.id, t0 - day);
    // Another station's upload is its own.
    await store.attachments.start('ST-B', upload({ bytes: 5000 }), t0);

    const fresh = upload({ bytes: 1 });
    const refused = store.attachments.start('ST-A', fresh, t0, admission(t0 - 3 * day, true));
    await assert.rejects(refused, /share used up/);
    assert.deepEqual(seen, [{ uploads: 2, bytes: 320 }]);
    assert.equal(await store.attachments.get(fresh.id), undefined, 'a refused upload leaves no row');
    const taken = await store.attachments.start('ST-A', fresh, t0, admission(t0 - 3 * day));
    assert.equal(taken.created, true);
    // A known upload resumes without a check, whatever the share says.
    seen.length = 0;
    const again = await store.attachments.start('ST-A', fresh, t0 + 1, admission(t0, true));
    assert.deepEqual([again.created, seen], [false, []]);
  });
});

test('the resume point moves only from where it is; repeats count as transferred; complete and restart', async () => {
  await withStore(async (store) => {
    await openProblem(store, 'ST-A', 'PB-AAAAAA');
    const { id } = (await store.attachments.start('ST-A', upload(), t0)).attachment;
    const moved = await store.attachments.advance(id, 0, 100, t0 + 1);
    assert.deepEqual([moved.advanced, moved.attachment.receivedBytes], [true, 100]);
    // A second copy of the same chunk cannot move it again.
    const stale = await store.attachments.advance(id, 0, 100, t0 + 2);
    assert.deepEqual([stale.advanced, stale.attachment.receivedBytes], [false, 100]);
    await store.attachments.countRepeat(id, 100, t0 + 3);
    await store.attachments.advance(id, 100, 200, t0 + 4);
    await store.attachments.restart(id, t0 + 5);
    assert.equal((await store.attachments.get(id))?.receivedBytes, 0);
    for (const [from, to] of [
      [0, 100],
      [100, 200],
      [200, 300],
    ] as const)
      await store.attachments.advance(id, from, to, t0 + 6);
    const done = await store.attachments.markComplete(id, t0 + 7);
    assert.deepEqual([done?.state, done?.completedAtMs, done?.transferredBytes], ['complete', t0 + 7, 600]);
    // Once complete, chunks no longer move anything.
    assert.equal((await store.attachments.advance(id, 300, 400, t0 + 8)).advanced, false);
  });
});

test('an unfinished upload is dropped back to byte 0 only while still idle since before the cutoff', async () => {
  await withStore(async (store) => {
    await openProblem(store, 'ST-A', 'PB-AAAAAA');
    const { attachment } = await store.attachments.start('ST-A', upload(), t0);
    await store.attachments.advance(attachment.id, 0, 100, t0 + 1);
    assert.deepEqual(
      (await store.attachments.listReceivingIdleSince(t0 + day)).map((a) => a.id),
      [attachment.id],
    );
    // A chunk arrived after the list was read: the upload is no longer idle, nothing is dropped.
    await store.attachments.advance(attachment.id, 100, 200, t0 + 2 * day);
    assert.equal(await store.attachments.discardUnfinished(attachment.id, t0 + day, t0 + 2 * day), false);
    assert.equal((await store.attachments.get(attachment.id))?.receivedBytes, 200);
    assert.equal(await store.attachments.discardUnfinished(attachment.id, t0 + 3 * day, t0 + 3 * day), true);
    const dropped = await store.attachments.get(attachment.id);
    assert.deepEqual(
      [dropped?.state, dropped?.receivedBytes, dropped?.transferredBytes, dropped?.updatedAtMs],
      ['receiving', 0, 200, t0 + 3 * day],
    );
    assert.deepEqual(await store.attachments.listReceivingIdleSince(t0 + 3 * day), []);
    // A complete upload is never dropped this way.
    for (const [from, to] of [
      [0, 100],
      [100, 200],
      [200, 300],
    ] as const)
      await store.attachments.advance(attachment.id, from, to, t0 + 3 * day);
    await store.attachments.markComplete(attachment.id, t0 + 3 * day);
    assert.equal(await store.attachments.discardUnfinished(attachment.id, t0 + 9 * day, t0 + 9 * day), false);
  });
});

test('retention purges complete files received before the cutoff and keeps the rows; delete keeps the row', async () => {
  await withStore(async (store, dir) => {
    const attachmentsDir = join(dir, 'attachments');
    const number = await openProblem(store, 'ST-A', 'PB-AAAAAA');
    const make = async (completedAtMs: number | null) => {
      const { attachment } = await store.attachments.start('ST-A', upload(), t0);
      const path = attachmentFilePath(attachmentsDir, 'ST-A', attachment.id);
      mkdirSync(join(attachmentsDir, 'ST-A'), { recursive: true });
      writeFileSync(path, 'x');
      if (completedAtMs !== null) await store.attachments.markComplete(attachment.id, completedAtMs);
      return { id: attachment.id, path };
    };
    const old = await make(t0);
    const recent = await make(t0 + 3 * day);
    const receiving = await make(null);
    const purged = await purgeAttachmentsReceivedBefore({
      store,
      attachmentsDir,
      cutoffMs: t0 + day,
      nowMs: t0 + 4 * day,
    });
    assert.deepEqual(purged, [
      { id: old.id, stationId: 'ST-A', problemNumber: number, name: 'dump.tar', bytes: 300 },
    ]);
    assert.deepEqual(
      [existsSync(old.path), existsSync(recent.path), existsSync(receiving.path)],
      [false, true, true],
    );
    const row = await store.attachments.get(old.id);
    assert.deepEqual([row?.state, row?.removedAtMs], ['purged', t0 + 4 * day]);
    assert.ok(await store.reports.getProblem(number), 'the problem report stays');
    assert.deepEqual(await purgeAttachmentsReceivedBefore({ store, attachmentsDir, cutoffMs: t0 + day }), []);

    const deleted = await deleteAttachment({ store, attachmentsDir, id: recent.id, nowMs: t0 + 5 * day });
    assert.equal(deleted.id, recent.id);
    assert.equal(existsSync(recent.path), false);
    assert.equal((await store.attachments.get(recent.id))?.state, 'deleted');
    await assert.rejects(deleteAttachment({ store, attachmentsDir, id: recent.id, nowMs: t0 }), {
      code: 'CALLHOME_ATTACHMENT_GONE',
    });
    await assert.rejects(deleteAttachment({ store, attachmentsDir, id: 'f'.repeat(32), nowMs: t0 }), {
      code: 'CALLHOME_ATTACHMENT_NOT_FOUND',
    });
  });
});
