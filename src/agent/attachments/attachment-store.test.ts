import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReportEnvelope } from '../../protocol/index.js';
import { AgentStore } from '../store/index.js';
import { OutboxStore } from '../callhome/index.js';
import { AttachmentStore } from './attachment-store.js';

const t0 = 1_750_000_000_000;
const dir = mkdtempSync(join(tmpdir(), 'lifeline-attachment-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** agent.db with the two stores these tests use: attachments, and the outbox they wait on. */
async function openStores(path: string) {
  const agentStore = await AgentStore.open(path);
  return {
    attachments: new AttachmentStore(agentStore.db),
    outbox: new OutboxStore(agentStore.db),
    close: () => agentStore.close(),
  };
}

const openStore = () => openStores(join(dir, `agent-${++files}.db`));

function report(kind: ReportEnvelope['kind'], localId: string): ReportEnvelope {
  return {
    id: randomBytes(16).toString('hex'),
    kind,
    createdAtMs: t0,
    orderKey: localId,
    payload:
      kind === 'problem.open'
        ? { localId, summary: 's', severity: 'minor', occurredAtMs: t0 }
        : { localId, note: 'more' },
  };
}

const staged = (id: string, problemLocalId = 'PB-AAAAAA') => ({
  id,
  problemLocalId,
  name: 'dump.tar',
  bytes: 250,
  sha256: 'c'.repeat(64),
  chunkBytes: 100,
  createdAtMs: t0,
});

test('an attachment waits for its problem: unknown, waiting while a report is pending, then delivered or rejected', async () => {
  const store = await openStore();
  try {
    const attachments = store.attachments;
    assert.equal(await attachments.problemDelivery('PB-AAAAAA'), 'unknown');
    const open = report('problem.open', 'PB-AAAAAA');
    await store.outbox.accept(open, { nowMs: t0, maxPending: 10 });
    assert.equal(await attachments.problemDelivery('PB-AAAAAA'), 'waiting');
    await store.outbox.markSent(open.id, t0, '{}', 201);
    assert.equal(await attachments.problemDelivery('PB-AAAAAA'), 'delivered');
    const update = report('problem.update', 'PB-AAAAAA');
    await store.outbox.accept(update, { nowMs: t0, maxPending: 10, hold: true });
    assert.equal(await attachments.problemDelivery('PB-AAAAAA'), 'waiting', 'a held update blocks too');

    const refused = report('problem.open', 'PB-BBBBBB');
    await store.outbox.accept(refused, { nowMs: t0, maxPending: 10 });
    await store.outbox.markRejected(refused.id, t0, 422, '{}');
    assert.equal(await attachments.problemDelivery('PB-BBBBBB'), 'rejected');
  } finally {
    await store.close();
  }
});

test('progress, upload and failure are recorded, survive reopening, and uploads are logged as transmissions', async () => {
  const path = join(dir, `agent-${++files}.db`);
  let store = await openStores(path);
  const a = 'a'.repeat(32);
  const b = 'b'.repeat(32);
  const c = 'c'.repeat(32);
  await store.attachments.add(staged(a));
  await store.attachments.add({ ...staged(b), createdAtMs: t0 + 1 });
  await store.attachments.add({ ...staged(c), createdAtMs: t0 + 2 });
  await store.attachments.setProgress(a, 200, t0 + 3);
  await store.attachments.setError(b, 'the hub did not answer', t0 + 4);
  await store.attachments.markFailed(c, 'refused for good', t0 + 5);
  await store.outbox.recordUploadStep({
    attachmentId: a,
    atMs: t0 + 6,
    kind: 'attachment.chunk',
    bytes: 100,
    sha256: 'd'.repeat(64),
    status: 200,
    answer: '{"index":1}',
  });
  await store.close();

  store = await openStores(path);
  try {
    assert.deepEqual(
      (await store.attachments.listToUpload()).map((r) => [r.id, r.state, r.ackedBytes, r.lastError]),
      [
        [a, 'uploading', 200, null],
        [b, 'staged', 0, 'the hub did not answer'],
      ],
    );
    await store.attachments.markUploaded(a, t0 + 7);
    const done = await store.attachments.get(a);
    assert.deepEqual([done?.state, done?.ackedBytes, done?.uploadedAtMs], ['uploaded', 250, t0 + 7]);
    // Progress after the end changes nothing.
    await store.attachments.setProgress(a, 100, t0 + 8);
    assert.equal((await store.attachments.get(a))?.ackedBytes, 250);
    assert.deepEqual(
      (await store.attachments.list()).map((r) => r.id),
      [c, b, a],
    );
    assert.equal((await store.attachments.get(c))?.state, 'failed');
    const [logged] = await store.outbox.listTransmissions({ reportId: a });
    assert.deepEqual([logged?.kind, logged?.bytes, logged?.status], ['attachment.chunk', 100, 200]);
  } finally {
    await store.close();
  }
});

test('the SHA-256 of each chunk, kept from staging until the upload is done or failed for good', async () => {
  const store = await openStore();
  try {
    const a = 'a'.repeat(32);
    const b = 'b'.repeat(32);
    const c = 'c'.repeat(32);
    const hashes = ['1', '2', '3'].map((digit) => digit.repeat(64));
    await store.attachments.add(staged(a), hashes);
    await store.attachments.add(staged(b));
    await store.attachments.add(staged(c), hashes);
    assert.deepEqual(await store.attachments.chunkSha256s(a), hashes);
    assert.equal(await store.attachments.chunkSha256s(b), undefined, 'staged without them');
    await store.attachments.markUploaded(a, t0 + 1);
    assert.equal(await store.attachments.chunkSha256s(a), undefined, 'dropped once uploaded');
    assert.equal((await store.attachments.get(a))?.state, 'uploaded', 'the record stays');
    await store.attachments.markFailed(c, 'refused for good', t0 + 2);
    assert.equal(await store.attachments.chunkSha256s(c), undefined, 'dropped once failed for good');
    assert.deepEqual(
      [(await store.attachments.get(c))?.state, (await store.attachments.get(c))?.lastError],
      ['failed', 'refused for good'],
    );
  } finally {
    await store.close();
  }
});
