// The body of an attachment chunk as it arrived: the pieces the connection delivered, kept as they
// are (no copy into one buffer) and written as they are. Its SHA-256 is checked once written
// (attachment-writer.ts), off the event loop.

import type { Readable } from 'node:stream';
import { LifelineError } from '../common/errors.js';

export class ChunkBody {
  readonly parts: readonly Buffer[];
  readonly byteLength: number;
  #release: (() => void) | undefined;

  /** `release` is called once the body's bytes are no longer needed (its buffer can be reused). */
  constructor(parts: readonly Buffer[], byteLength: number, release?: () => void) {
    this.parts = parts;
    this.byteLength = byteLength;
    this.#release = release;
  }

  /** The chunk was written or refused: nothing reads its parts any more. Idempotent. */
  release(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }
}

/**
 * Chunk-sized buffers, reused from one chunk to the next. Bodies copied into these leave the heap
 * with a few long-lived buffers instead of megabytes of short-lived pieces, whose external memory
 * would otherwise make V8 run full collections on the event loop every few chunks.
 */
export class ChunkBufferPool {
  readonly #free: Buffer[] = [];
  readonly #keep: number;
  readonly #idleMs: number;
  #idleTimer: NodeJS.Timeout | undefined;

  /** Keeps at most `keep` free buffers, and none once nothing was taken for `idleMs`. */
  constructor(keep: number, idleMs = 30_000) {
    this.#keep = keep;
    this.#idleMs = idleMs;
  }

  /** A buffer of at least `bytes` bytes (its contents are not cleared). */
  take(bytes: number): Buffer {
    const at = this.#free.findIndex((buffer) => buffer.byteLength >= bytes);
    if (at >= 0) return this.#free.splice(at, 1)[0] as Buffer;
    return Buffer.allocUnsafeSlow(bytes);
  }

  give(buffer: Buffer): void {
    if (this.#free.length < this.#keep) this.#free.push(buffer);
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.#free.splice(0), this.#idleMs).unref();
  }

  /** Free buffers held now (for tests). */
  get freeCount(): number {
    return this.#free.length;
  }
}

/** Reads a chunk body of at most `limit` bytes; a longer one is refused before it is all read. */
export function receiveChunkBody(stream: Readable, limit: number): Promise<ChunkBody> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let byteLength = 0;
    const cleanUp = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onData = (piece: Buffer): void => {
      byteLength += piece.byteLength;
      if (byteLength > limit) {
        cleanUp();
        // The rest is read and dropped so the answer can go out on the same stream.
        stream.resume();
        reject(new LifelineError('CALLHOME_ATTACHMENT_TOO_LARGE', `a chunk holds at most ${limit} bytes`));
        return;
      }
      parts.push(piece);
    };
    const onEnd = (): void => {
      cleanUp();
      resolve(new ChunkBody(parts, byteLength));
    };
    const onError = (err: Error): void => {
      cleanUp();
      reject(err);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}
