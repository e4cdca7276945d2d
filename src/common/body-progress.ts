// Request bodies that must keep moving: each body a fastify API reads goes through a counting
// stream whose progress the listener's ConnectionGuard checks (BodyWatch). A body slower than the
// minimum rate is cut with 408 API_REQUEST_TIMEOUT, and its connection (HTTP/1.1) or stream
// (HTTP/2) is closed, so a client trickling a body a byte at a time holds nothing for long.

import { constants as h2 } from 'node:http2';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { FastifyInstance, FastifyRequest, RawServerBase } from 'fastify';
import { formatDurationMs } from './duration.js';
import { LifelineError } from './errors.js';
import type { BodyWatch, ConnectionGuard } from './connection-guard.js';

/** What a too-slow body is told (and the agent's uploader or the CLI shows). */
export function bodyTooSlowError(guard: ConnectionGuard): LifelineError {
  const { minBodyBytesPerSecond, bodyRateWindowMs } = guard.limits;
  return new LifelineError(
    'API_REQUEST_TIMEOUT',
    `the request body came slower than ${minBodyBytesPerSecond} bytes a second over ` +
      `${formatDurationMs(bodyRateWindowMs)} (${guard.configKey}.minBodyBytesPerSecond): the request is cut off`,
  );
}

/** Counts the bytes of a body as they pass; fastify reads this stream instead of the request. */
class MeteredBody extends Transform {
  /** fastify compares this with content-length (and the body limit). */
  receivedEncodedLength = 0;
  readonly #watch: BodyWatch;

  constructor(watch: BodyWatch) {
    super();
    this.#watch = watch;
    // The server not reading what arrived is not the client's fault.
    watch.exempt = () => this.readableLength >= this.readableHighWaterMark;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.receivedEncodedLength += chunk.byteLength;
    this.#watch.received(chunk.byteLength);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#watch.done();
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#watch.done();
    callback(err);
  }
}

interface RawRequest {
  httpVersionMajor: number;
  complete?: boolean;
  stream?: {
    endAfterHeaders: boolean;
    close(code?: number): void;
    once(event: 'finish', f: () => void): void;
  };
}

/** True when no body bytes are still to come, so there is nothing to watch. */
function noBodyToCome(raw: RawRequest, headers: FastifyRequest['headers']): boolean {
  if (raw.stream) return raw.stream.endAfterHeaders;
  if (raw.complete) return true;
  return headers['content-length'] === undefined && headers['transfer-encoding'] === undefined;
}

/** Puts every request body of `app` under `guard`'s minimum rate. */
export function installBodyProgress<S extends RawServerBase>(
  app: FastifyInstance<S>,
  guard: ConnectionGuard,
): void {
  const cut = new WeakSet<object>();
  app.addHook('preParsing', async (request, _reply, payload) => {
    const raw = request.raw as unknown as RawRequest;
    if (noBodyToCome(raw, request.headers)) return payload;
    const source = payload as Readable;
    const watch = guard.watchBody(request.raw.socket, () => {
      cut.add(request);
      metered.destroy(bodyTooSlowError(guard));
    });
    const metered = new MeteredBody(watch);
    source.on('error', (err) => metered.destroy(err));
    source.once('close', () => {
      // The client went away before the end: the reader must not wait for it.
      if (!source.readableEnded && !metered.destroyed)
        metered.destroy(new LifelineError('API_BAD_REQUEST', 'the request body ended early'));
    });
    source.pipe(metered);
    return metered;
  });
  // A cut body is not read any further. fastify answers a body that fails with `connection: close`
  // (HTTP/1.1 then closes the connection); on HTTP/2 the stream is reset once the answer is out,
  // or the rest of its body would still be owed (and the stream never end).
  app.addHook('onSend', async (request, _reply, payload) => {
    const stream = (request.raw as unknown as RawRequest).stream;
    if (cut.has(request) && stream) stream.once('finish', () => stream.close(h2.NGHTTP2_CANCEL));
    return payload;
  });
}
