// Staging: a file streamed in is written, synced and recorded with its SHA-256 and the SHA-256 of
// each of its chunks (so an upload, and every resume of it, sends chunks without hashing them).

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { systemClock } from '../../common/clock.js';
import { AgentStore } from '../store/index.js';
import { OutboxStore } from '../callhome/index.js';
import { AttachmentStore } from './attachment-store.js';
import { ChunkHashes, stageAttachment, stagedFilePath } from './attachment-staging.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const dir = mkdtempSync(join(tmpdir(), 'lifeline-staging-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The bytes cut into blocks of the given sizes, in turn. */
function blocks(bytes: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.byteLength; i += 1) {
    const size = sizes[i % sizes.length] ?? 1;
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

/** agent.db with the two stores these tests use: attachments, and the outbox they wait on. */
async function openStores(path: string) {
  const agentStore = await AgentStore.open(path);
  return {
    attachments: new AttachmentStore(agentStore.db),
    outbox: new OutboxStore(agentStore.db),
    close: () => agentStore.close(),
  };
}

describe('attachment staging', () => {
  test('chunk hashes are the same however the stream is cut', () => {
    const chunkBytes = 1000;
    for (const length of [0, 1, 999, 1000, 1001, 4321]) {
      const bytes = randomBytes(length);
      const expected: string[] = [];
      for (let at = 0; at < length; at += chunkBytes)
        expected.push(sha256(bytes.subarray(at, at + chunkBytes)));
      for (const sizes of [[1], [7, 993, 2000], [length || 1]]) {
        const hashes = new ChunkHashes(chunkBytes);
        for (const block of blocks(bytes, sizes)) hashes.update(block);
        assert.deepEqual(hashes.digests(), expected, `${length} bytes in blocks of ${sizes.join('/')}`);
      }
    }
  });

  test('a staged file is recorded with its SHA-256 and the SHA-256 of each chunk', async () => {
    const store = await openStores(join(dir, 'agent.db'));
    try {
      const localId = 'PB-STAGE1';
      await store.outbox.accept(
        {
          id: randomBytes(16).toString('hex'),
          kind: 'problem.open',
          createdAtMs: Date.now(),
          orderKey: localId,
          payload: { localId, summary: 's', severity: 'minor', occurredAtMs: Date.now() },
        },
        { nowMs: Date.now(), maxPending: 10 },
      );
      const chunkBytes = 64 * 1024;
      const file = randomBytes(chunkBytes * 2 + 123);
      const record = await stageAttachment({
        store: store.attachments,
        dir: join(dir, 'attachments'),
        clock: systemClock,
        problemLocalId: localId,
        name: 'dump.bin',
        body: Readable.from(blocks(file, [5000, 70_000])),
        expectedBytes: file.byteLength,
        maxBytes: 1024 * 1024,
        chunkBytes,
      });
      assert.equal(record.sha256, sha256(file));
      assert.ok(readFileSync(stagedFilePath(join(dir, 'attachments'), record.id)).equals(file));
      assert.deepEqual(await store.attachments.chunkSha256s(record.id), [
        sha256(file.subarray(0, chunkBytes)),
        sha256(file.subarray(chunkBytes, 2 * chunkBytes)),
        sha256(file.subarray(2 * chunkBytes)),
      ]);
    } finally {
      await store.close();
    }
  });
});
