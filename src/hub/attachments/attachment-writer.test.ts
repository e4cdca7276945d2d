// The hub's chunk writer against a real SQLite store and real files: chunks are written in order,
// made durable in groups, answered only once synced, and resends, gaps and failures are answered
// with where the hub stands.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { systemClock } from '../../common/clock.js';
import { openSqliteHubStore } from '../store/index.js';
import { type HubAttachment } from '../store/index.js';
import { type HubStore } from '../store/index.js';
import { DirectoryBlobStore } from './directory-blob-store.js';
import { AttachmentWriters, ChunkOutOfTurn } from './attachment-writer.js';
import { ChunkBody, receiveChunkBody } from './chunk-body.js';

const chunkBytes = 64 * 1024;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
let counter = 0;

interface Setup {
  store: HubStore;
  dir: string;
  writers: AttachmentWriters;
  file: Buffer;
  attachment: HubAttachment;
  chunk: (index: number) => { start: number; end: number; body: ChunkBody; sha256: string };
}

async function withUpload(
  options: { chunks: number; chunkWaitMs?: number; chunksAhead?: number },
  work: (setup: Setup) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-attachment-writer-'));
  const store = await openSqliteHubStore(join(dir, 'hub.db'));
  const blobs = new DirectoryBlobStore(join(dir, 'attachments'));
  const writers = new AttachmentWriters({
    store,
    clock: systemClock,
    blobs,
    chunkWaitMs: options.chunkWaitMs ?? 5_000,
    chunksAhead: options.chunksAhead ?? 3,
  });
  try {
    counter += 1;
    await store.reports.ingest(
      'ST-W',
      {
        id: counter.toString(16).padStart(32, '0'),
        kind: 'problem.open',
        createdAtMs: Date.now(),
        orderKey: 'PB-WRITER',
        payload: {
          localId: 'PB-WRITER',
          summary: 'writer test',
          severity: 'minor',
          occurredAtMs: Date.now(),
        },
      },
      '{}',
      'h',
      Date.now(),
    );
    const file = randomBytes(chunkBytes * options.chunks - 100);
    const { attachment } = await store.attachments.start(
      'ST-W',
      {
        id: counter.toString(16).padStart(32, 'c'),
        problemLocalId: 'PB-WRITER',
        name: 'dump.bin',
        bytes: file.byteLength,
        sha256: sha256(file),
        chunkBytes,
      },
      Date.now(),
    );
    const chunk = (index: number) => {
      const start = index * chunkBytes;
      const end = Math.min(file.byteLength, start + chunkBytes);
      const bytes = file.subarray(start, end);
      // Pieces as a connection delivers them, not one buffer.
      const parts = [bytes.subarray(0, 1000), bytes.subarray(1000, 5000), bytes.subarray(5000)];
      return { start, end, body: new ChunkBody(parts, bytes.byteLength), sha256: sha256(bytes) };
    };
    await work({ store, dir, writers, file, attachment, chunk });
  } finally {
    await writers.close();
    await blobs.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Where the directory store keeps an unfinished upload's bytes. */
const partPath = (setup: Setup) => join(setup.dir, 'attachments', 'ST-W', `${setup.attachment.id}.part`);

const put = (setup: Setup, index: number, declared?: string) => {
  const { start, end, body, sha256: actual } = setup.chunk(index);
  return setup.writers.write(setup.attachment, start, end, body, declared ?? actual);
};

test('chunks sent together are written in order, synced in groups, and each is answered once durable', async () => {
  await withUpload({ chunks: 4 }, async (setup) => {
    // Out of order on the wire: 2 and 1 wait for 0.
    const outcomes = await Promise.all([put(setup, 2), put(setup, 1), put(setup, 0), put(setup, 3)]);
    for (const outcome of outcomes) {
      assert.equal(outcome.duplicate, false);
      assert.equal(outcome.attachment.state, 'receiving');
    }
    // Every answer came after a sync that covered its chunk; the last one covers the file.
    assert.equal(outcomes[3]?.attachment.receivedBytes, setup.file.byteLength);
    for (const [position, index] of [2, 1, 0, 3].entries()) {
      assert.ok((outcomes[position]?.attachment.receivedBytes ?? 0) >= setup.chunk(index).end);
    }
    const stored = await setup.store.attachments.get(setup.attachment.id);
    assert.equal(stored?.receivedBytes, setup.file.byteLength);
    const onDisk = readFileSync(partPath(setup));
    assert.equal(sha256(onDisk), setup.attachment.sha256);
    // Hashed on the way: no read-back needed to complete.
    assert.equal(
      await setup.writers.digestOf(setup.attachment.id, setup.file.byteLength),
      setup.attachment.sha256,
    );
  });
});

test('a resend is answered as a duplicate, whether it is durable already or still being written', async () => {
  await withUpload({ chunks: 2 }, async (setup) => {
    const [first, resentMeanwhile] = await Promise.all([put(setup, 0), put(setup, 0)]);
    assert.equal(first.duplicate, false);
    assert.equal(resentMeanwhile.duplicate, true);
    const later = await put(setup, 0);
    assert.deepEqual([later.duplicate, later.attachment.receivedBytes], [true, chunkBytes]);
    const stored = await setup.store.attachments.get(setup.attachment.id);
    // Two repeats of one chunk counted as transferred, the resume point moved once.
    assert.deepEqual([stored?.receivedBytes, stored?.transferredBytes], [chunkBytes, chunkBytes * 3]);
  });
});

test('a chunk too far ahead is refused at once; one that waits too long is refused with the resume point', async () => {
  await withUpload({ chunks: 6, chunkWaitMs: 200, chunksAhead: 2 }, async (setup) => {
    await assert.rejects(put(setup, 3), (err: unknown) => {
      assert.ok(err instanceof ChunkOutOfTurn);
      assert.equal(err.receivedBytes, 0);
      assert.match(err.message, /send chunk 0 next/);
      return true;
    });
    await put(setup, 0);
    const started = Date.now();
    await assert.rejects(
      put(setup, 2),
      (err: unknown) => err instanceof ChunkOutOfTurn && err.receivedBytes === chunkBytes,
    );
    assert.ok(Date.now() - started >= 150, 'the early chunk waited for its turn first');
    // The hub still takes the chunk it expects.
    assert.equal((await put(setup, 1)).attachment.receivedBytes, chunkBytes * 2);
  });
});

test('a write that fails answers the chunks waiting behind it, and the next chunk starts again from the store', async () => {
  await withUpload({ chunks: 3 }, async (setup) => {
    await put(setup, 0);
    // The file's place is taken by a directory: the next burst cannot open it.
    const path = partPath(setup);
    rmSync(path);
    mkdirSync(path);
    const results = await Promise.allSettled([put(setup, 1), put(setup, 2)]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.equal((await setup.store.attachments.get(setup.attachment.id))?.receivedBytes, chunkBytes);
    rmSync(path, { recursive: true, force: true });
    // Restarted from what the store holds: chunk 1 is next, and is taken.
    assert.equal((await put(setup, 1)).attachment.receivedBytes, chunkBytes * 2);
    // Chunk 0's bytes are gone from the file, so the running hash is no longer known.
    assert.equal(await setup.writers.digestOf(setup.attachment.id, setup.file.byteLength), null);
  });
});

test('a chunk whose bytes differ from its manifest is refused and not counted; a correct resend is taken', async () => {
  await withUpload({ chunks: 4 }, async (setup) => {
    await put(setup, 0);
    const [bad, behind] = await Promise.allSettled([put(setup, 1, 'f'.repeat(64)), put(setup, 2)]);
    assert.equal(bad.status, 'rejected');
    assert.match(
      String(bad.status === 'rejected' && (bad.reason as Error).message),
      /differs from the manifest/,
    );
    // The chunk behind it is told where the hub stands.
    const reason: unknown = behind.status === 'rejected' ? behind.reason : undefined;
    assert.ok(reason instanceof ChunkOutOfTurn);
    assert.equal(reason.receivedBytes, chunkBytes);
    assert.equal((await setup.store.attachments.get(setup.attachment.id))?.receivedBytes, chunkBytes);
    for (const index of [1, 2, 3]) await put(setup, index);
    const onDisk = readFileSync(partPath(setup));
    assert.equal(sha256(onDisk), setup.attachment.sha256);
    // The whole-file hash followed the refused bytes, so it is not offered: completing reads the file.
    assert.equal(await setup.writers.digestOf(setup.attachment.id, setup.file.byteLength), null);
  });
});

test('a chunk body is kept in the pieces that arrived, and refused when too long', async () => {
  const pieces = [randomBytes(10), randomBytes(20), randomBytes(30)];
  const body = await receiveChunkBody(Readable.from(pieces), 100);
  assert.equal(body.byteLength, 60);
  assert.equal(body.parts.length, 3);
  assert.deepEqual(Buffer.concat(body.parts), Buffer.concat(pieces));
  await assert.rejects(receiveChunkBody(Readable.from(pieces), 59), {
    code: 'CALLHOME_ATTACHMENT_TOO_LARGE',
  });
});
