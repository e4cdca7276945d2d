// The hub's chunk-writing thread on real files: chunks that are larger than the groups it hashes
// and writes together, made of pieces of every size (as TLS delivers them, or copied into one
// buffer), land byte for byte at their offset, each with its own SHA-256, and the whole file's
// SHA-256 follows them in order.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { StoreFullError, storeFullErrorOf } from '../../common/disk/index.js';
import { ChunkBody } from './chunk-body.js';
import { ChunkWriterThread } from './chunk-writer-thread.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** `bytes` cut into pieces of the given sizes (the last one takes the rest), each a buffer of its own. */
function pieces(bytes: Buffer, sizes: number[]): Buffer[] {
  const parts: Buffer[] = [];
  let at = 0;
  for (const size of sizes) {
    if (at >= bytes.byteLength) break;
    parts.push(Buffer.from(bytes.subarray(at, Math.min(bytes.byteLength, at + size))));
    at += size;
  }
  if (at < bytes.byteLength) parts.push(Buffer.from(bytes.subarray(at)));
  return parts;
}

/** A writing thread and an empty file for it, both gone afterwards. */
async function withThread(work: (thread: ChunkWriterThread, path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-chunk-thread-'));
  const thread = new ChunkWriterThread();
  try {
    const path = join(dir, 'upload.bin');
    writeFileSync(path, '');
    await work(thread, path);
  } finally {
    await thread.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('chunks larger than a group are written whole at their offset, with their own and the whole file’s SHA-256', () =>
  withThread(async (thread, path) => {
    // Chunk sizes around and past the 256 KiB group, so groups end inside pieces and chunks.
    const chunkBytes = 700 * 1024 + 13;
    const file = randomBytes(3 * chunkBytes - 5000);
    const bodies = [
      // As TLS delivers them: 16 KiB reads, an empty one, a few odd sizes.
      new ChunkBody(pieces(file.subarray(0, chunkBytes), [16384, 0, 16384, 1, 300_000, 7]), chunkBytes, true),
      // Copied into one buffer (not handed over): a single piece of more than two groups.
      new ChunkBody([Buffer.from(file.subarray(chunkBytes, 2 * chunkBytes))], chunkBytes),
      // The last, shorter chunk in pieces of 100 KiB.
      new ChunkBody(
        pieces(file.subarray(2 * chunkBytes), Array<number>(20).fill(100 * 1024)),
        file.byteLength - 2 * chunkBytes,
        true,
      ),
    ];
    for (const [index, body] of bodies.entries()) {
      const start = index * chunkBytes;
      assert.equal(
        await thread.writeAndHash('upload', path, start, body),
        sha256(file.subarray(start, start + body.byteLength)),
        `chunk ${index}'s SHA-256`,
      );
      assert.equal(
        await thread.digest('upload', start + body.byteLength),
        sha256(file.subarray(0, start + body.byteLength)),
        `the whole file's SHA-256 after chunk ${index}`,
      );
    }
    assert.ok(readFileSync(path).equals(file), 'the file holds every byte at its place');
    // Asked for a length it has not followed, the thread has no whole-file SHA-256.
    assert.equal(await thread.digest('upload', chunkBytes), null);
    // A chunk written again out of turn is written and hashed, but the whole-file hash stops following.
    const again = file.subarray(chunkBytes, 2 * chunkBytes);
    assert.equal(
      await thread.writeAndHash(
        'upload',
        path,
        chunkBytes,
        new ChunkBody([Buffer.from(again)], again.byteLength),
      ),
      sha256(again),
    );
    assert.equal(await thread.digest('upload', file.byteLength), null);
    assert.ok(readFileSync(path).equals(file));
  }));

test('a chunk that cannot be written is refused, and the whole-file hash no longer claims to follow the file', () =>
  withThread(async (thread, path) => {
    const first = randomBytes(300 * 1024);
    await thread.writeAndHash('upload', path, 0, new ChunkBody([Buffer.from(first)], first.byteLength));
    assert.equal(await thread.digest('upload', first.byteLength), sha256(first));
    // Refused by the disk after the first group was hashed (a device that is always full).
    const second = randomBytes(600 * 1024);
    await assert.rejects(
      thread.writeAndHash(
        'upload',
        '/dev/full',
        first.byteLength,
        new ChunkBody([second], second.byteLength),
      ),
      /ENOSPC/,
    );
    assert.equal(await thread.digest('upload', first.byteLength), null);
    assert.equal(await thread.digest('upload', first.byteLength + second.byteLength), null);
    // The file cannot be opened at all: refused the same way.
    await thread.writeAndHash('other', path, 0, new ChunkBody([Buffer.from(first)], first.byteLength));
    rmSync(path);
    await assert.rejects(
      thread.writeAndHash('other', path, first.byteLength, new ChunkBody([second], second.byteLength)),
      /ENOENT/,
    );
    assert.equal(await thread.digest('other', first.byteLength), null);
  }));

test(
  'on a full filesystem a chunk fails with ENOSPC, which the hub answers as STORE_FULL, and the thread goes on',
  { skip: process.getuid?.() === 0 ? false : 'mounting a tmpfs needs root (CI runs as root)' },
  () =>
    withThread(async (thread, path) => {
      const full = join(mkdtempSync(join(tmpdir(), 'lifeline-chunk-full-')), 'tmpfs');
      mkdirSync(full);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', full]);
      try {
        const target = join(full, 'upload.bin');
        writeFileSync(target, '');
        const chunk = randomBytes(2 * 1024 * 1024);
        const failure = await thread
          .writeAndHash('full', target, 0, new ChunkBody([Buffer.from(chunk)], chunk.byteLength))
          .then(
            () => assert.fail('a 2 MiB chunk cannot fit in 1 MiB'),
            (err: unknown) => err,
          );
        assert.equal((failure as NodeJS.ErrnoException).code, 'ENOSPC', String(failure));
        const refusal = await storeFullErrorOf(failure, target);
        assert.ok(refusal instanceof StoreFullError);
        assert.match(refusal.message, new RegExp(`${full} has [\\d.]+ (bytes|KiB) free`));
        // The same thread still writes where there is room.
        const ok = randomBytes(4096);
        const expected = sha256(ok);
        assert.equal(await thread.writeAndHash('ok', path, 0, new ChunkBody([ok], ok.byteLength)), expected);
        assert.deepEqual(readFileSync(path), ok);
      } finally {
        execFileSync('umount', [full]);
        rmSync(dirname(full), { recursive: true, force: true });
      }
    }),
);
