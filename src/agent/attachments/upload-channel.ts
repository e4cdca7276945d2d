// The agent's end of the upload channel (ALPN lifeline-upload/1, frames in protocol/upload-channel.ts):
// attachment chunks on a mutual-TLS connection of their own to the hub endpoint in use, each a
// length-prefixed frame written straight to TLS, each answered by a JSON line carrying the status
// and body the HTTP/2 route would have answered. One connection is kept while chunks flow and
// closed when unused. When it cannot be opened (a hub without the channel), the uploader sends its
// chunks over call home instead.

import type { TLSSocket } from 'node:tls';
import { answerError } from '../../common/net/index.js';
import { LifelineError } from '../../common/errors.js';
import { toLinkError, type HubAnswer } from '../link/index.js';
import {
  encodeUploadFrameHead,
  uploadAnswerSchema,
  type UploadAnswer,
  type UploadFrameHead,
} from '../../protocol/index.js';

/**
 * The channel could not be opened: the chunk was not sent, call home can carry it. Its code is the
 * dial's (LINK_ALPN for a hub without the channel, LINK_REFUSED ...), the dial's error its cause.
 */
export class UploadChannelUnavailable extends LifelineError {
  constructor(cause: unknown) {
    const failure = toLinkError(cause);
    super(failure.code, `the upload channel could not be opened: ${failure.message}`, { cause });
  }
}

export interface UploadChannelOptions {
  /** A TLS connection with the channel's ALPN to the hub endpoint in use. */
  connect: (signal?: AbortSignal) => Promise<TLSSocket>;
  /** Silence (nothing received, nothing written) while chunks await answers that ends the connection. */
  idleTimeoutMs?: number;
  /** How long a connection with nothing in flight is kept for the next chunk. */
  lingerMs?: number;
}

/** Which chunk a frame carries; its size comes from the body. */
export type ChunkFrame = Omit<UploadFrameHead, 'seq' | 'bytes'>;

export interface ChunkSendOptions {
  signal?: AbortSignal;
  /** Called once the whole body was handed to the connection (not when the hub answers). */
  onBodySent?: () => void;
}

/** Bodies are written in slices, so a slow line still shows progress to the silence watchdog. */
const writeSliceBytes = 1024 * 1024;

export class UploadChannel {
  readonly #options: Required<UploadChannelOptions>;
  #connection: ChannelConnection | undefined;
  #opening: Promise<ChannelConnection> | undefined;
  #seq = 0;
  #closed = false;

  constructor(options: UploadChannelOptions) {
    this.#options = { idleTimeoutMs: 30_000, lingerMs: 10_000, ...options };
  }

  /**
   * Sends one chunk; resolves with the hub's answer, rejects when none came (the chunk may or may
   * not have arrived: the hub's resume point tells), or with UploadChannelUnavailable when the
   * connection could not be opened.
   */
  async send(chunk: ChunkFrame, body: Uint8Array, options: ChunkSendOptions = {}): Promise<HubAnswer> {
    const connection = await this.#open(options.signal);
    this.#seq += 1;
    return connection.send({ seq: this.#seq, ...chunk, bytes: body.byteLength }, body, options);
  }

  /**
   * Dials now, ahead of the first chunk, so the handshake overlaps what comes before it (the
   * upload's start, reading the chunk). A failure here is not reported: the first chunk dials again
   * and learns it. An unused connection closes after the linger time.
   */
  prepare(signal?: AbortSignal): void {
    this.#open(signal).catch(() => undefined);
  }

  /** New credentials or endpoint: the next chunk dials again; answers owed still arrive. */
  retire(): void {
    this.#connection?.retire();
    this.#connection = undefined;
    this.#opening = undefined;
  }

  close(): void {
    this.#closed = true;
    this.#connection?.destroy(closedError());
    this.#connection = undefined;
    this.#opening = undefined;
  }

  #open(signal?: AbortSignal): Promise<ChannelConnection> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#connection?.usable) return Promise.resolve(this.#connection);
    if (!this.#opening) {
      const opening = this.#options.connect(signal).then(
        (socket) => {
          const connection = new ChannelConnection(socket, this.#options, () => {
            if (this.#connection === connection) this.#connection = undefined;
          });
          if (this.#opening === opening) {
            this.#connection = connection;
            this.#opening = undefined;
          }
          return connection;
        },
        (err: unknown) => {
          if (this.#opening === opening) this.#opening = undefined;
          throw new UploadChannelUnavailable(err);
        },
      );
      this.#opening = opening;
    }
    return this.#opening;
  }
}

interface Pending {
  resolve: (answer: HubAnswer) => void;
  reject: (err: Error) => void;
}

/** One connection: frames out in the order sent, answers matched to them by sequence number. */
class ChannelConnection {
  readonly #socket: TLSSocket;
  readonly #options: Required<UploadChannelOptions>;
  readonly #onGone: () => void;
  readonly #pending = new Map<number, Pending>();
  #lastActivityMs = Date.now();
  #watchdog: NodeJS.Timeout | undefined;
  #linger: NodeJS.Timeout | undefined;
  #partialLine = '';
  #failure: Error | undefined;
  #retired = false;

  constructor(socket: TLSSocket, options: Required<UploadChannelOptions>, onGone: () => void) {
    this.#socket = socket;
    this.#options = options;
    this.#onGone = onGone;
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => this.#received(text));
    socket.on('error', (err: Error) =>
      this.#fail(toLinkError(err, `the upload connection failed: ${err.message}`, 'LINK_RESET')),
    );
    socket.once('close', () =>
      this.#fail(new LifelineError('LINK_RESET', 'the hub closed the upload connection')),
    );
    this.#startLinger();
  }

  get usable(): boolean {
    return this.#failure === undefined && !this.#retired && !this.#socket.destroyed;
  }

  send(head: UploadFrameHead, body: Uint8Array, options: ChunkSendOptions): Promise<HubAnswer> {
    if (this.#failure) return Promise.reject(this.#failure);
    clearTimeout(this.#linger);
    const answer = new Promise<HubAnswer>((resolve, reject) =>
      this.#pending.set(head.seq, { resolve, reject }),
    );
    const { signal } = options;
    if (signal) {
      // A frame cannot be taken back half-sent: stopping ends the connection (the hub's resume
      // point tells the next attempt what arrived).
      const onAbort = (): void => this.destroy(new DOMException('the upload was stopped', 'AbortError'));
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        void answer.catch(() => undefined).finally(() => signal.removeEventListener('abort', onAbort));
      }
    }
    this.#watchdog ??= setInterval(() => this.#checkSilence(), 1000).unref();
    // Written at once: the socket keeps frames in the order they were written.
    const slices = 1 + Math.ceil(body.byteLength / writeSliceBytes);
    let written = 0;
    const sliceWritten = (err?: Error | null): void => {
      if (err) return;
      this.#lastActivityMs = Date.now();
      written += 1;
      if (written === slices) options.onBodySent?.();
    };
    this.#socket.write(encodeUploadFrameHead(head), sliceWritten);
    for (let at = 0; at < body.byteLength; at += writeSliceBytes) {
      this.#socket.write(body.subarray(at, Math.min(at + writeSliceBytes, body.byteLength)), sliceWritten);
    }
    if (body.byteLength === 0) sliceWritten();
    return answer;
  }

  /** No new chunks; the connection ends once the answers owed arrived. */
  retire(): void {
    this.#retired = true;
    if (this.#pending.size === 0) this.#socket.end();
  }

  destroy(err: Error): void {
    this.#fail(err);
    this.#socket.destroy();
  }

  #received(text: string): void {
    this.#lastActivityMs = Date.now();
    const lines = (this.#partialLine + text).split('\n');
    this.#partialLine = lines.pop() ?? '';
    if (this.#partialLine.length > 64 * 1024) {
      this.destroy(new LifelineError('INTERNAL', 'the hub sent an answer line longer than 64 KiB'));
      return;
    }
    for (const line of lines) {
      let answer: UploadAnswer;
      try {
        answer = uploadAnswerSchema.parse(JSON.parse(line));
      } catch {
        this.destroy(
          new LifelineError('INTERNAL', `the hub sent an unreadable answer: ${line.slice(0, 200)}`),
        );
        return;
      }
      if (answer.seq === 0) {
        // About the connection itself (the station was refused): every chunk on it gets that answer.
        for (const pending of this.#pending.values()) pending.resolve(answer);
        this.#pending.clear();
        const refusal = answerError(answer.status, answer.answer, 'the hub');
        this.#fail(
          new LifelineError(refusal.code, `the hub refused the upload connection: ${refusal.message}`, {
            cause: refusal,
          }),
        );
        continue;
      }
      const pending = this.#pending.get(answer.seq);
      if (!pending) continue;
      this.#pending.delete(answer.seq);
      pending.resolve({ status: answer.status, answer: answer.answer });
    }
    if (this.#pending.size === 0) this.#idle();
  }

  #idle(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    if (this.#retired) this.#socket.end();
    else this.#startLinger();
  }

  #startLinger(): void {
    clearTimeout(this.#linger);
    this.#linger = setTimeout(() => {
      this.#retired = true;
      this.#socket.end();
    }, this.#options.lingerMs).unref();
  }

  #checkSilence(): void {
    const silentMs = Date.now() - this.#lastActivityMs;
    if (this.#pending.size > 0 && silentMs > this.#options.idleTimeoutMs) {
      this.destroy(
        new LifelineError(
          'LINK_TIMEOUT',
          `the hub did not answer on the upload connection for ${silentMs} ms`,
        ),
      );
    }
  }

  #fail(err: Error): void {
    if (!this.#failure) this.#failure = err;
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    clearTimeout(this.#linger);
    for (const pending of this.#pending.values()) pending.reject(this.#failure);
    this.#pending.clear();
    this.#onGone();
  }
}

function closedError(): LifelineError {
  // The agent is stopping: what was not sent stays staged for the next start.
  return new LifelineError('API_UNREACHABLE', 'the upload channel was closed');
}
