// The thread behind AttachmentHasher: reads ranges of attachment files back from the page cache
// (they were just written) and hashes them, so the hub's event loop spends no time on SHA-256 while
// chunks arrive. Per upload it also follows the SHA-256 of the whole file, range after range.

import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { HasherAnswer, HasherRequest } from './attachment-hasher.js';

const port = parentPort;
if (!port) throw new Error('attachment-hasher-worker runs as a worker thread');

const running = new Map<string, { hash: Hash; upTo: number }>();
let buffer = Buffer.allocUnsafe(0);

function hashRange(id: string, path: string, start: number, end: number): string {
  if (buffer.byteLength < end - start) buffer = Buffer.allocUnsafe(end - start);
  const bytes = buffer.subarray(0, end - start);
  const fd = openSync(path, 'r');
  try {
    let read = 0;
    while (read < bytes.byteLength) {
      const n = readSync(fd, bytes, read, bytes.byteLength - read, start + read);
      if (n === 0) throw new Error(`${path} ends before byte ${start + read}`);
      read += n;
    }
  } finally {
    closeSync(fd);
  }
  const state = start === 0 ? { hash: createHash('sha256'), upTo: 0 } : running.get(id);
  if (state && state.upTo === start) {
    state.hash.update(bytes);
    state.upTo = end;
    running.set(id, state);
  } else running.delete(id);
  return createHash('sha256').update(bytes).digest('hex');
}

port.on('message', (request: HasherRequest) => {
  if (request.op === 'forget') {
    running.delete(request.id);
    return;
  }
  let answer: HasherAnswer;
  try {
    if (request.op === 'range') {
      answer = { seq: request.seq, sha256: hashRange(request.id, request.path, request.start, request.end) };
    } else {
      const state = running.get(request.id);
      answer = {
        seq: request.seq,
        sha256: state && state.upTo === request.bytes ? state.hash.copy().digest('hex') : null,
      };
    }
  } catch (err) {
    answer = { seq: request.seq, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(answer);
});
