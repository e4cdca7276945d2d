// Request bodies that must keep moving: the listener's ConnectionGuard checks the progress of each
// body a fastify API reads (BodyWatch), counted on its HTTP/1.1 connection or, on HTTP/2, by a
// stream it passes through. A body slower than the minimum rate is cut with 408
// API_REQUEST_TIMEOUT, and its connection (HTTP/1.1) or stream (HTTP/2) is closed, so a client
// trickling a body a byte at a time holds nothing for long.

import type { IncomingMessage } from 'node:http';
import { constants as h2, type Http2ServerRequest } from 'node:http2';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { FastifyInstance, FastifyRequest, RawServerBase } from 'fastify';
import { formatDurationMs } from '../config/index.js';
import { LifelineError } from '../errors.js';
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

/** True when no body bytes are still to come, so there is nothing to watch. */
function noBodyToCome(
  raw: IncomingMessage | Http2ServerRequest,
  headers: FastifyRequest['headers'],
): boolean {
  if ('stream' in raw) return raw.stream.endAfterHeaders;
  if (raw.complete) return true;
  return headers['content-length'] === undefined && headers['transfer-encoding'] === undefined;
}

/**
 * An HTTP/1.1 body is watched from the side: its connection carries one request at a time, so the
 * socket's byte count is the body's progress, and nothing stands between the socket and the reader.
 * A body too slow fails the reader with the error (fastify then answers 408 with
 * `connection: close`).
 */
function watchHttp1Body(raw: IncomingMessage, guard: ConnectionGuard): void {
  const socket = raw.socket;
  let counted = socket.bytesRead;
  const watch = guard.watchBody(socket, () => {
    if (raw.listenerCount('error') > 0) raw.emit('error', bodyTooSlowError(guard));
    else socket.destroy();
  });
  watch.pull = () => {
    const now = socket.bytesRead;
    const grew = now - counted;
    counted = now;
    return grew;
  };
  // The reader not reading what arrived (its buffer full) is not the client's fault.
  watch.exempt = () => raw.readableLength >= raw.readableHighWaterMark;
  const done = () => watch.done();
  raw.once('end', done);
  raw.once('close', done);
}

/** Puts every request body of `app` under `guard`'s minimum rate. */
export function installBodyProgress<S extends RawServerBase>(
  app: FastifyInstance<S>,
  guard: ConnectionGuard,
): void {
  const cut = new WeakSet<object>();
  // Callback hooks, not async ones: they run for every request, and a promise each costs.
  app.addHook('preParsing', (request, _reply, payload, done) => {
    const raw: IncomingMessage | Http2ServerRequest = request.raw;
    if (noBodyToCome(raw, request.headers)) {
      done(null, payload);
      return;
    }
    if (!('stream' in raw)) {
      watchHttp1Body(raw, guard);
      done(null, payload);
      return;
    }
    // HTTP/2: streams share the connection, so the body's own bytes are counted on their way.
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
    done(null, metered);
  });
  // A cut HTTP/2 body is not read any further: its stream is reset once the answer is out, or the
  // rest of its body would still be owed (and the stream never end).
  app.addHook('onSend', (request, _reply, payload, done) => {
    const raw: IncomingMessage | Http2ServerRequest = request.raw;
    const stream = 'stream' in raw ? raw.stream : undefined;
    if (stream && cut.has(request)) stream.once('finish', () => stream.close(h2.NGHTTP2_CANCEL));
    done(null, payload);
  });
}
