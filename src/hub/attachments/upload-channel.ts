// The hub's end of the upload channel (ALPN lifeline-upload/1, frames in protocol/upload-channel.ts):
// a station's attachment chunks on a connection of their own, each body kept as the pieces TLS
// delivered and handed to the same receiver as the HTTP/2 route, each answered by a JSON line once
// written, checked and synced. The station is the one its certificate names, checked as for call
// home; a frame that cannot be read ends the connection with the reason.

import type { TLSSocket } from 'node:tls';
import { LifelineError, toLifelineError } from '../../common/errors.js';
import { bodyTooSlowError } from '../../common/net/index.js';
import type { ConnectionGuard } from '../../common/net/index.js';
import type { Logger } from '../../common/logger.js';
import {
  encodeUploadAnswer,
  maxUploadFrameHeadBytes,
  uploadFrameHeadSchema,
  type UploadFrameHead,
} from '../../protocol/index.js';
import type { HubStore } from '../store/index.js';
import type { AttachmentReceiver } from './attachment-receiver.js';
import { ChunkBody, ownCopy } from './chunk-body.js';
import { callingStation } from '../stations/index.js';

export interface UploadChannelOptions {
  store: HubStore;
  receiver: AttachmentReceiver;
  logger: Logger;
  /** A connection silent this long, with nothing being written for it, is closed. */
  idleTimeoutMs?: number;
  /** The station port's minimum rate, which a frame's bytes must keep up once it began. */
  guard?: ConnectionGuard | undefined;
}

/**
 * Chunks of one connection being written or awaiting their answer; past this the hub stops reading
 * the connection until one is answered (the agent keeps as many in flight, so this only bounds a
 * station that does not).
 */
export const uploadChunksUnanswered = 8;

type FrameHandler = (head: UploadFrameHead, body: ChunkBody) => void;

/**
 * Cuts the byte stream into frames. A body is kept as the buffers TLS delivered: one that holds
 * only body bytes is kept whole (nothing else refers to it, so the writing thread can take it
 * without a copy); the few that straddle a frame's edge are copied. Keeping the buffers, rather
 * than gathering them on the event loop, leaves the copying and their memory to the writing
 * thread, where collecting them costs the event loop nothing.
 */
export class UploadFrameReader {
  readonly #onFrame: FrameHandler;
  #prefix = Buffer.alloc(4);
  #prefixFill = 0;
  #head: Buffer | undefined;
  #headFill = 0;
  #frame: UploadFrameHead | undefined;
  #parts: Buffer[] = [];
  #bodyFill = 0;

  constructor(onFrame: FrameHandler) {
    this.#onFrame = onFrame;
  }

  /** Takes what arrived; throws a LifelineError when it is not a frame (the stream is then unusable). */
  push(data: Buffer): void {
    let at = 0;
    while (at < data.byteLength) {
      if (this.#frame) {
        const take = Math.min(this.#frame.bytes - this.#bodyFill, data.byteLength - at);
        const whole = at === 0 && take === data.byteLength && ownsWholeBuffer(data);
        this.#parts.push(whole ? data : ownCopy([data.subarray(at, at + take)]));
        this.#bodyFill += take;
        at += take;
        if (this.#bodyFill === this.#frame.bytes) this.#emit();
      } else if (this.#head) {
        const take = Math.min(this.#head.byteLength - this.#headFill, data.byteLength - at);
        data.copy(this.#head, this.#headFill, at, at + take);
        this.#headFill += take;
        at += take;
        if (this.#headFill === this.#head.byteLength) this.#startBody(this.#head);
      } else {
        const take = Math.min(4 - this.#prefixFill, data.byteLength - at);
        data.copy(this.#prefix, this.#prefixFill, at, at + take);
        this.#prefixFill += take;
        at += take;
        if (this.#prefixFill === 4) {
          const length = this.#prefix.readUInt32BE(0);
          if (length === 0 || length > maxUploadFrameHeadBytes) {
            throw new LifelineError(
              'CALLHOME_ATTACHMENT_INVALID',
              `a frame head of ${length} bytes: expected 1 to ${maxUploadFrameHeadBytes}`,
            );
          }
          this.#head = Buffer.allocUnsafe(length);
          this.#headFill = 0;
        }
      }
    }
  }

  /** True between frames: a connection that ends here lost nothing half-sent. */
  get atBoundary(): boolean {
    return this.#frame === undefined && this.#head === undefined && this.#prefixFill === 0;
  }

  #startBody(head: Buffer): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(head.toString('utf8'));
    } catch {
      throw new LifelineError('CALLHOME_ATTACHMENT_INVALID', 'a frame head that is not JSON');
    }
    const result = uploadFrameHeadSchema.safeParse(parsed);
    if (!result.success) {
      const why = result.error.issues.map((i) => `${i.path.join('.') || 'head'}: ${i.message}`).join('; ');
      throw new LifelineError('CALLHOME_ATTACHMENT_INVALID', `a frame head is invalid: ${why}`);
    }
    this.#frame = result.data;
    this.#parts = [];
    this.#bodyFill = 0;
    if (result.data.bytes === 0) this.#emit();
  }

  #emit(): void {
    const frame = this.#frame;
    if (!frame) return;
    const body = new ChunkBody(this.#parts, frame.bytes, true);
    this.#frame = undefined;
    this.#parts = [];
    this.#head = undefined;
    this.#prefixFill = 0;
    this.#onFrame(frame, body);
  }
}

/** Serves one upload connection from the station listener (its TLS handshake is done). */
export async function serveUploadChannel(socket: TLSSocket, options: UploadChannelOptions): Promise<void> {
  const { receiver, logger } = options;
  const answer = (seq: number, status: number, body: unknown): void => {
    if (socket.writable) socket.write(encodeUploadAnswer({ seq, status, answer: JSON.stringify(body) }));
  };
  const refuse = (error: LifelineError): void => {
    answer(0, error.httpStatus, error.toJSON());
    socket.end();
    // An agent that keeps sending after the refusal is not read any further.
    setTimeout(() => socket.destroy(), 2000).unref();
  };
  socket.pause();
  let stationId: string;
  try {
    // Same rules as call home, without the renewal of an expired certificate.
    ({ stationId } = await callingStation({ socket }, options.store));
  } catch (err) {
    refuse(toLifelineError(err));
    return;
  }
  const log = logger.child({ stationId, channel: 'upload' });
  // Chunks are answered within seconds (attachment-receiver.ts): a connection silent this long is gone.
  socket.setTimeout(options.idleTimeoutMs ?? 120_000, () => socket.destroy());
  let unanswered = 0;
  const reader = new UploadFrameReader((head, body) => {
    unanswered += 1;
    if (unanswered >= uploadChunksUnanswered) socket.pause();
    receiver
      .chunk(stationId, head.id, head.index, head.manifest, body, 'channel')
      .then(
        (result) => answer(head.seq, result.status, result.body),
        (err: unknown) => {
          const error = toLifelineError(err);
          if (error.code === 'INTERNAL') log.error({ err, attachmentId: head.id }, 'chunk failed');
          answer(head.seq, error.httpStatus, error.toJSON());
        },
      )
      .finally(() => {
        unanswered -= 1;
        if (unanswered < uploadChunksUnanswered && !socket.destroyed) socket.resume();
      });
  });
  // A frame begun must keep coming at the minimum rate; between frames, and while the hub itself
  // stopped reading, the window does not run.
  const guard = options.guard;
  const progress = guard?.watchBody(socket, () => {
    socket.removeAllListeners('data');
    socket.pause();
    log.warn('upload channel: a frame came too slowly, connection closed');
    refuse(bodyTooSlowError(guard));
  });
  if (progress) progress.exempt = () => reader.atBoundary || socket.isPaused();
  socket.once('close', () => progress?.done());
  socket.on('data', (data: Buffer) => {
    progress?.received(data.byteLength);
    try {
      reader.push(data);
    } catch (err) {
      socket.removeAllListeners('data');
      socket.pause();
      const error = toLifelineError(err);
      log.warn({ error: error.message }, 'upload channel: unreadable frame, connection closed');
      refuse(error);
    }
  });
  socket.once('end', () => {
    if (!reader.atBoundary) log.info('upload channel: the station went away in the middle of a chunk');
    // Answers still owed go out; then the hub's side ends too.
    const finish = (): void => {
      if (unanswered === 0) socket.end();
      else setTimeout(finish, 50).unref();
    };
    finish();
  });
  socket.on('error', (err) => log.debug({ err }, 'upload channel: connection failed'));
  socket.resume();
}

/** True when `buffer` spans its whole ArrayBuffer (as each TLS read does). */
function ownsWholeBuffer(buffer: Buffer): boolean {
  return buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength;
}
