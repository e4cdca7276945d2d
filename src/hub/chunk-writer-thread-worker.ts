// The thread behind ChunkWriterThread: writes each chunk it is handed at its offset in the
// attachment's file and hashes it, so the hub's event loop neither hashes nor holds megabytes while
// chunks arrive. Per upload it also follows the SHA-256 of the whole file, chunk after chunk.

import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, writevSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { ChunkThreadAnswer, ChunkThreadRequest } from './chunk-writer-thread.js';

const port = parentPort;
if (!port) throw new Error('chunk-writer-thread-worker runs as a worker thread');

const running = new Map<string, { hash: Hash; upTo: number }>();

function writeAndHash(id: string, path: string, start: number, parts: Uint8Array[]): string {
  const fd = openSync(path, 'r+');
  try {
    let pending = parts.filter((part) => part.byteLength > 0);
    let at = start;
    while (pending.length > 0) {
      const written = writevSync(fd, pending, at);
      if (written === 0) throw new Error(`no byte could be written at ${at} of ${path}`);
      at += written;
      let skip = written;
      while (pending.length > 0 && skip >= (pending[0]?.byteLength ?? 0)) {
        skip -= pending[0]?.byteLength ?? 0;
        pending = pending.slice(1);
      }
      if (skip > 0 && pending[0]) pending = [pending[0].subarray(skip), ...pending.slice(1)];
    }
  } finally {
    closeSync(fd);
  }
  const end = parts.reduce((sum, part) => sum + part.byteLength, start);
  const state = start === 0 ? { hash: createHash('sha256'), upTo: 0 } : running.get(id);
  if (state && state.upTo === start) {
    for (const part of parts) state.hash.update(part);
    state.upTo = end;
    running.set(id, state);
  } else running.delete(id);
  const chunk = createHash('sha256');
  for (const part of parts) chunk.update(part);
  return chunk.digest('hex');
}

port.on('message', (request: ChunkThreadRequest) => {
  if (request.op === 'forget') {
    running.delete(request.id);
    return;
  }
  let answer: ChunkThreadAnswer;
  try {
    if (request.op === 'write') {
      answer = {
        seq: request.seq,
        sha256: writeAndHash(request.id, request.path, request.start, request.parts),
      };
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
