// Problem data files and their records: retention purges complete files received before a cutoff,
// support deletes one; each keeps its record, marked.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AttachmentStart } from '../../protocol/index.js';
import { openSqliteHubStore, type HubStore } from '../store/index.js';
import { deleteAttachment, purgeAttachmentsReceivedBefore } from './attachment-files.js';
import { DirectoryBlobStore } from './directory-blob-store.js';

const t0 = Date.UTC(2026, 10, 25);
const day = 86_400_000;
let counter = 0;

async function withStore(work: (store: HubStore, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-hub-attachment-files-'));
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

function upload(): AttachmentStart {
  counter += 1;
  return {
    id: counter.toString(16).padStart(32, 'a'),
    problemLocalId: 'PB-AAAAAA',
    name: 'dump.tar',
    bytes: 300,
    sha256: 'b'.repeat(64),
    chunkBytes: 100,
  };
}

test('retention purges complete files received before the cutoff and keeps the rows; delete keeps the row', async () => {
  await withStore(async (store, dir) => {
    const attachmentsDir = join(dir, 'attachments');
    const blobs = new DirectoryBlobStore(attachmentsDir);
    const number = await openProblem(store, 'ST-A', 'PB-AAAAAA');
    const make = async (completedAtMs: number | null) => {
      const { attachment } = await store.attachments.start('ST-A', upload(), t0);
      const path = join(attachmentsDir, 'ST-A', attachment.id);
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
      blobs,
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
    assert.deepEqual(await purgeAttachmentsReceivedBefore({ store, blobs, cutoffMs: t0 + day }), []);

    const deleted = await deleteAttachment({ store, blobs, id: recent.id, nowMs: t0 + 5 * day });
    assert.equal(deleted.id, recent.id);
    assert.equal(existsSync(recent.path), false);
    assert.equal((await store.attachments.get(recent.id))?.state, 'deleted');
    await assert.rejects(deleteAttachment({ store, blobs, id: recent.id, nowMs: t0 }), {
      code: 'CALLHOME_ATTACHMENT_GONE',
    });
    await assert.rejects(deleteAttachment({ store, blobs, id: 'f'.repeat(32), nowMs: t0 }), {
      code: 'CALLHOME_ATTACHMENT_NOT_FOUND',
    });
  });
});
