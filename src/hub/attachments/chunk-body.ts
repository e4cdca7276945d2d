// The body of an attachment chunk as it arrived: the pieces the connection delivered, kept as they
// are (no copy into one buffer), written and checked against its SHA-256 off the event loop
// (attachment-writer.ts).

import type { Readable } from 'node:stream';
import { LifelineError } from '../../common/errors.js';

export class ChunkBody {
  readonly parts: readonly Buffer[];
  readonly byteLength: number;
  /**
   * Every part is a whole ArrayBuffer that nothing else refers to, so the parts can be handed to
   * the writing thread as they are (transferred, not copied).
   */
  readonly exclusive: boolean;

  constructor(parts: readonly Buffer[], byteLength: number, exclusive = false) {
    this.parts = parts;
    this.byteLength = byteLength;
    this.exclusive = exclusive;
  }
}

/**
 * The bytes of `parts` in one buffer of its own (never Node's shared pool, which cannot be handed
 * to another thread), so it can be handed over whole.
 */
export function ownCopy(parts: readonly Buffer[]): Buffer {
  const copy = Buffer.allocUnsafeSlow(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) at += part.copy(copy, at);
  return copy;
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
