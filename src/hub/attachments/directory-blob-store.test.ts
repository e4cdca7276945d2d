// The directory blob store on real files: parts land at their offsets in a private .part file, a
// blob shows under its own name only once sealed, reads take ranges, removal takes both; two stores
// on one directory (two hub nodes) continue each other's uploads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobKey, BlobStore } from './blob-store.js';
import { ChunkBody } from './chunk-body.js';
import { DirectoryBlobStore } from './directory-blob-store.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const partBytes = 64 * 1024;
const key: BlobKey = { stationId: 'ST-B', id: 'd'.repeat(32) };

async function bytesOf(stream: Readable): Promise<Buffer> {
  const blocks: Buffer[] = [];
  for await (const block of stream) blocks.push(block as Buffer);
  return Buffer.concat(blocks);
}

/** Part `index` of `file`, as a body of its own (its buffer is handed to the writing thread). */
function partOf(file: Buffer, index: number) {
  const start = index * partBytes;
  const end = Math.min(file.byteLength, start + partBytes);
  const body = new ChunkBody([Buffer.from(file.subarray(start, end))], end - start);
  return { part: { index, start, end }, body, sha256: sha256(file.subarray(start, end)) };
}

async function withDir(work: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-blobs-'));
  try {
    await work(join(dir, 'blobs'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withStores(count: number, work: (stores: BlobStore[], dir: string) => Promise<void>) {
  await withDir(async (dir) => {
    const stores = Array.from({ length: count }, () => new DirectoryBlobStore(dir));
    try {
      await work(stores, dir);
    } finally {
      for (const store of stores) await store.close();
    }
  });
}

test('parts go to a private .part file; sealing shows the whole blob under its name, read whole or by range', () =>
  withStores(1, async ([blobs], dir) => {
    assert.ok(blobs);
    const file = randomBytes(3 * partBytes - 100);
    const upload = await blobs.openUpload(key, { bytes: file.byteLength, partBytes });
    const written = await Promise.all(
      [0, 1, 2].map((index) => {
        const { part, body } = partOf(file, index);
        return upload.writePart(part, body);
      }),
    );
    assert.deepEqual(
      written,
      [0, 1, 2].map((index) => partOf(file, index).sha256),
    );
    await upload.flush();
    // Every byte went through this handle in order: the whole blob's SHA-256 is known.
    assert.equal(await upload.digest(file.byteLength), sha256(file));
    await upload.close();

    const part = join(dir, key.stationId, `${key.id}.part`);
    assert.equal(statSync(part).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, key.stationId)).mode & 0o777, 0o700);
    assert.equal(existsSync(blobs.describe(key)), false, 'no blob under its name before it is sealed');
    await assert.rejects(blobs.read(key), { code: 'CALLHOME_ATTACHMENT_GONE' });

    assert.equal(await blobs.seal(key, file.byteLength), true);
    assert.equal(existsSync(part), false);
    assert.equal(statSync(blobs.describe(key)).mode & 0o777, 0o600);
    assert.ok((await bytesOf(await blobs.read(key))).equals(file));
    const range = { start: partBytes - 10, end: 2 * partBytes + 10 };
    assert.ok((await bytesOf(await blobs.read(key, range))).equals(file.subarray(range.start, range.end)));
    assert.equal((await bytesOf(await blobs.read(key, { start: 5, end: 5 }))).byteLength, 0);
    // Sealed again (a completion asked twice): nothing changes.
    assert.equal(await blobs.seal(key, file.byteLength), true);

    assert.equal(await blobs.remove(key), file.byteLength);
    assert.equal(existsSync(blobs.describe(key)), false);
    assert.equal(await blobs.remove(key), 0, 'removing what is gone is no error');
    // Bytes counted as received that are no longer there: the upload must start over.
    assert.equal(await blobs.seal(key, file.byteLength), false);
  }));

test('an empty blob needs no part; sealing creates it', () =>
  withStores(1, async ([blobs]) => {
    assert.ok(blobs);
    assert.equal(await blobs.seal(key, 0), true);
    assert.equal((await bytesOf(await blobs.read(key))).byteLength, 0);
  }));

test('sealing cuts the part to its length; a part written again replaces its bytes and the whole hash is given up', () =>
  withStores(1, async ([blobs]) => {
    assert.ok(blobs);
    const file = randomBytes(2 * partBytes);
    const upload = await blobs.openUpload(key, { bytes: file.byteLength, partBytes });
    const first = partOf(file, 0);
    await upload.writePart(first.part, first.body);
    const wrong = Buffer.from(file.subarray(partBytes)).fill(1, 0, 100);
    await upload.writePart(partOf(file, 1).part, new ChunkBody([wrong], partBytes));
    const { part, body } = partOf(file, 1);
    assert.equal(await upload.writePart(part, body), sha256(file.subarray(partBytes)));
    await upload.flush();
    assert.equal(await upload.digest(file.byteLength), null, 'part 1 was written twice');
    await upload.close();
    // A longer leftover past the end (a part of an earlier try) is cut off by the seal.
    const partPath = `${blobs.describe(key)}.part`;
    writeFileSync(partPath, Buffer.alloc(10, 9), { flag: 'a' });
    assert.equal(await blobs.seal(key, file.byteLength), true);
    assert.ok(readFileSync(blobs.describe(key)).equals(file));
  }));

test('an upload begun through one store continues through another on the same directory, from the bytes on disk', () =>
  withStores(2, async ([nodeA, nodeB], dir) => {
    assert.ok(nodeA && nodeB);
    const file = randomBytes(4 * partBytes - 7);
    const shape = { bytes: file.byteLength, partBytes };
    const first = await nodeA.openUpload(key, shape);
    for (const index of [0, 1]) {
      const { part, body } = partOf(file, index);
      await first.writePart(part, body);
    }
    await first.flush();
    // Node A stops: its store closes with the handle still open.
    await nodeA.close();

    const rest = await nodeB.openUpload(key, shape);
    for (const index of [2, 3]) {
      const { part, body } = partOf(file, index);
      await rest.writePart(part, body);
    }
    await rest.flush();
    // Node B saw only the last parts: it cannot vouch for the whole, so completing reads it back.
    assert.equal(await rest.digest(file.byteLength), null);
    await rest.close();
    // Completion asked of two nodes at once: both find the blob sealed.
    const other = new DirectoryBlobStore(dir);
    try {
      assert.deepEqual(
        await Promise.all([nodeB.seal(key, file.byteLength), other.seal(key, file.byteLength)]),
        [true, true],
      );
    } finally {
      await other.close();
    }
    const again = new DirectoryBlobStore(dir);
    try {
      assert.ok((await bytesOf(await again.read(key))).equals(file));
    } finally {
      await again.close();
    }
  }));

test('bytes an older hub wrote in place under the blob name become the part when the upload resumes', () =>
  withStores(1, async ([blobs], dir) => {
    assert.ok(blobs);
    const file = randomBytes(2 * partBytes);
    mkdirSync(join(dir, key.stationId), { recursive: true });
    writeFileSync(blobs.describe(key), file.subarray(0, partBytes), { mode: 0o600 });
    const upload = await blobs.openUpload(key, { bytes: file.byteLength, partBytes });
    assert.equal(existsSync(blobs.describe(key)), false);
    const { part, body } = partOf(file, 1);
    await upload.writePart(part, body);
    await upload.flush();
    await upload.close();
    assert.equal(await blobs.seal(key, file.byteLength), true);
    assert.ok(readFileSync(blobs.describe(key)).equals(file));
  }));
