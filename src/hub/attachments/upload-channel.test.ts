// The upload channel's frame reader: frames cut from a byte stream however it arrives, bodies kept
// as buffers of their own (the ones TLS delivered when they hold only body bytes, copies of the
// edges otherwise), and clear refusals for what is not a frame. The channel over real TLS is tested in callhome-attachment-routes.test.ts.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { LifelineError } from '../../common/errors.js';
import { encodeUploadFrameHead, maxChunkBytes, type UploadFrameHead } from '../../protocol/index.js';
import type { ChunkBody } from './chunk-body.js';
import { UploadFrameReader } from './upload-channel.js';

const id = 'ab'.repeat(16);

function frame(seq: number, body: Buffer): Buffer {
  return Buffer.concat([
    encodeUploadFrameHead({ seq, id, index: seq - 1, bytes: body.byteLength, manifest: `m${seq}` }),
    body,
  ]);
}

function collect() {
  const frames: { head: UploadFrameHead; body: ChunkBody }[] = [];
  const reader = new UploadFrameReader((head, body) => frames.push({ head, body }));
  return { reader, frames };
}

/** A buffer that is a whole ArrayBuffer of its own, as a TLS read delivers it. */
function ownBuffer(bytes: Buffer): Buffer {
  const own = Buffer.allocUnsafeSlow(bytes.byteLength);
  bytes.copy(own);
  return own;
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

  test('a body owns its buffers: whole reads are kept, the edges of frames are copied', () => {
    const { reader, frames } = collect();
    const body = randomBytes(3 * 16384);
    const head = encodeUploadFrameHead({ seq: 1, id, index: 0, bytes: body.byteLength, manifest: 'm' });
    const reads = [
      ownBuffer(Buffer.concat([head, body.subarray(0, 100)])),
      ownBuffer(body.subarray(100, 16484)),
      ownBuffer(body.subarray(16484, 32868)),
      ownBuffer(Buffer.concat([body.subarray(32868), frame(2, Buffer.from('next'))])),
    ];
    for (const read of reads) reader.push(read);
    const parts = frames[0]?.body.parts ?? [];
    assert.equal(frames[0]?.body.exclusive, true);
    assert.deepEqual(
      parts.map((part) => reads.indexOf(part)),
      [-1, 1, 2, -1],
      'the middle reads are kept as they are; the two edges are copies',
    );
    for (const part of parts) {
      assert.equal(part.byteOffset, 0);
      assert.equal(part.byteLength, part.buffer.byteLength, 'each part is a whole buffer of its own');
    }
    const first = frames[0];
    assert.ok(first && bytesOf(first.body).equals(body));
    assert.equal(frames[1]?.head.seq, 2);
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
