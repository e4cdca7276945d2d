// The upload channel's frame reader: frames cut from a byte stream however it arrives, bodies
// gathered into pooled buffers that go back to the pool once released, and clear refusals for
// what is not a frame. The channel over real TLS is tested in callhome-attachment-routes.test.ts.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { LifelineError } from '../common/errors.js';
import { encodeUploadFrameHead, maxChunkBytes, type UploadFrameHead } from '../protocol/index.js';
import { ChunkBufferPool, type ChunkBody } from './chunk-body.js';
import { UploadFrameReader } from './upload-channel.js';

const id = 'ab'.repeat(16);

function frame(seq: number, body: Buffer): Buffer {
  return Buffer.concat([
    encodeUploadFrameHead({ seq, id, index: seq - 1, bytes: body.byteLength, manifest: `m${seq}` }),
    body,
  ]);
}

function collect(pool = new ChunkBufferPool(4)) {
  const frames: { head: UploadFrameHead; body: ChunkBody }[] = [];
  const reader = new UploadFrameReader((head, body) => frames.push({ head, body }), pool);
  return { reader, frames, pool };
}

const bytesOf = (body: ChunkBody) => Buffer.concat(body.parts.map((part) => Buffer.from(part)));

describe('upload frame reader', () => {
  test('frames arrive whole however the stream is cut', () => {
    const bodies = [randomBytes(1000), Buffer.alloc(0), randomBytes(70_000)];
    const stream = Buffer.concat(bodies.map((body, i) => frame(i + 1, body)));
    for (const cut of [1, 3, 4096, stream.byteLength]) {
      const { reader, frames } = collect();
      for (let at = 0; at < stream.byteLength; at += cut) {
        reader.push(stream.subarray(at, at + cut));
        // Bytes in, no frame out yet: the reader is in the middle of the first one.
        if (frames.length === 0) assert.equal(reader.atBoundary, false);
      }
      assert.equal(reader.atBoundary, true);
      assert.deepEqual(
        frames.map((f) => [f.head.seq, f.head.manifest, f.body.byteLength]),
        [
          [1, 'm1', 1000],
          [2, 'm2', 0],
          [3, 'm3', 70_000],
        ],
        `cut every ${cut} bytes`,
      );
      frames.forEach((f, i) => assert.ok(bytesOf(f.body).equals(bodies[i] ?? Buffer.alloc(0))));
    }
  });

  test('a released body gives its buffer back for the next one', () => {
    const { reader, frames, pool } = collect(new ChunkBufferPool(1));
    reader.push(frame(1, randomBytes(5000)));
    const first = frames[0]?.body.parts[0];
    assert.equal(pool.freeCount, 0);
    frames[0]?.body.release();
    frames[0]?.body.release();
    assert.equal(pool.freeCount, 1, 'released once, however often asked');
    const second = randomBytes(4000);
    reader.push(frame(2, second));
    assert.equal(frames[1]?.body.parts[0]?.buffer, first?.buffer, 'the same memory, reused');
    const reused = frames[1];
    assert.ok(reused && bytesOf(reused.body).equals(second));
  });

  test('what is not a frame is refused with the reason', () => {
    const refusal = (bytes: Buffer) => {
      const { reader } = collect();
      try {
        reader.push(bytes);
      } catch (err) {
        assert.ok(err instanceof LifelineError);
        assert.equal(err.code, 'CALLHOME_ATTACHMENT_INVALID');
        return err.message;
      }
      assert.fail('accepted');
    };
    assert.match(refusal(Buffer.from([0, 0, 0, 0])), /frame head of 0 bytes/);
    assert.match(refusal(Buffer.from([0, 1, 0, 0])), /frame head of 65536 bytes: expected 1 to 40960/);
    const notJson = Buffer.from('{nope');
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(notJson.byteLength, 0);
    assert.match(refusal(Buffer.concat([prefix, notJson])), /not JSON/);
    const tooBig = encodeUploadFrameHead({ seq: 1, id, index: 0, bytes: maxChunkBytes + 1, manifest: 'm' });
    assert.match(refusal(tooBig), /bytes: /);
    const extra = Buffer.from(JSON.stringify({ seq: 1, id, index: 0, bytes: 1, manifest: 'm', more: 1 }));
    const extraPrefix = Buffer.alloc(4);
    extraPrefix.writeUInt32BE(extra.byteLength, 0);
    assert.match(refusal(Buffer.concat([extraPrefix, extra])), /more|Unrecognized/i);
  });
});
