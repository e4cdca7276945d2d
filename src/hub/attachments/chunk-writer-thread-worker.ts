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

/**
 * Bytes hashed and then written together: small enough to stay in the core's cache between the
 * hashing and the kernel's copy into the page cache, so each byte comes from memory once rather
 * than once for the write and once for each hash.
 */
const groupBytes = 256 * 1024;

function writeAndHash(id: string, path: string, start: number, parts: Uint8Array[]): string {
  const end = parts.reduce((sum, part) => sum + part.byteLength, start);
  const known = start === 0 ? { hash: createHash('sha256'), upTo: 0 } : running.get(id);
  // The whole-file hash follows only bytes that extend what it covers.
  const whole = known && known.upTo === start ? known : undefined;
  const chunk = createHash('sha256');
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r+');
    let group: Uint8Array[] = [];
    let groupFill = 0;
    let at = start;
    for (const part of parts) {
      // A large part (a body copied into one buffer) is taken a group's worth at a time.
      for (let offset = 0; offset < part.byteLength; offset += groupBytes) {
        const piece = part.subarray(offset, offset + groupBytes);
        chunk.update(piece);
        whole?.hash.update(piece);
        group.push(piece);
        groupFill += piece.byteLength;
        if (groupFill >= groupBytes) {
          at = writeAllAt(fd, path, group, at);
          group = [];
          groupFill = 0;
        }
      }
    }
    writeAllAt(fd, path, group, at);
  } catch (err) {
    // The whole-file hash may have taken bytes that are not on disk: it no longer follows the file.
    running.delete(id);
    throw err;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (whole) {
    whole.upTo = end;
    running.set(id, whole);
  } else running.delete(id);
  return chunk.digest('hex');
}

/** Writes every byte of `parts` at `at` (a short write goes on where it stopped); returns the end. */
function writeAllAt(fd: number, path: string, parts: readonly Uint8Array[], at: number): number {
  let pending = parts;
  let position = at;
  while (pending.length > 0) {
    const written = writevSync(fd, pending, position);
    if (written === 0) throw new Error(`no byte could be written at ${position} of ${path}`);
    position += written;
    let skip = written;
    while (pending.length > 0 && skip >= (pending[0]?.byteLength ?? 0)) {
      skip -= pending[0]?.byteLength ?? 0;
      pending = pending.slice(1);
    }
    if (skip > 0 && pending[0]) pending = [pending[0].subarray(skip), ...pending.slice(1)];
  }
  return position;
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
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    answer = {
      seq: request.seq,
      error: err instanceof Error ? err.message : String(err),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  port.postMessage(answer);
});
