// One running service session: the tunnel stream, the socket to the appliance service (and how it
// is connected), byte counts, activity, and how it ends (the end reason reaches the technician in
// trailers).

import { connect, type Socket } from 'node:net';
import type { ErrorCode } from '../../common/errors.js';
import { constants as h2, type ServerHttp2Stream } from 'node:http2';
import type { AllowVia } from '../../policy/index.js';
import { header, sessionEndMessages, type SessionEndReason } from '../../protocol/index.js';

export interface ActiveSession {
  id: string;
  technician: string;
  technicianName: string;
  groups: string[];
  service: string;
  reason: string | null;
  startedAtMs: number;
  lastActivityMs: number;
  bytesIn: number;
  bytesOut: number;
  via: AllowVia;
}

export class LiveSession {
  readonly info: ActiveSession;
  readonly #stream: ServerHttp2Stream;
  readonly #socket: Socket;
  endReason: SessionEndReason | undefined;

  constructor(info: ActiveSession, stream: ServerHttp2Stream, socket: Socket) {
    this.info = info;
    this.#stream = stream;
    this.#socket = socket;
  }

  /** Answers the hub and relays bytes both ways; `onClose` runs once when the stream is gone. */
  start(now: () => number, onClose: () => void): void {
    const stream = this.#stream;
    const socket = this.#socket;
    const info = this.info;
    stream.respond({ ':status': 200 }, { waitForTrailers: true });
    stream.on('wantTrailers', () => {
      const reason = this.endReason ?? 'closed';
      stream.sendTrailers({ [header.endReason]: reason, [header.endMessage]: sessionEndMessages[reason] });
    });
    stream.on('data', (chunk: Buffer) => {
      info.bytesIn += chunk.length;
      info.lastActivityMs = now();
    });
    socket.on('data', (chunk: Buffer) => {
      info.bytesOut += chunk.length;
      info.lastActivityMs = now();
    });
    stream.pipe(socket);
    socket.pipe(stream);
    socket.on('error', () => {
      this.endReason ??= 'target-error';
      if (!stream.writableEnded) stream.end();
    });
    socket.on('close', () => {
      if (!stream.writableEnded && !stream.destroyed) stream.end();
    });
    stream.on('close', () => {
      // A stream closed because its tunnel died (ping timeout, reset) ended for that reason.
      if (this.endReason === undefined && (!stream.session || stream.session.destroyed)) {
        this.endReason = 'tunnel-lost';
      }
      socket.destroy();
      onClose();
    });
  }

  /** Ends the session now; the technician gets the reason in the trailers. */
  end(reason: SessionEndReason): void {
    this.endReason ??= reason;
    this.#socket.unpipe(this.#stream);
    this.#socket.destroy();
    const stream = this.#stream;
    if (!stream.writableEnded && !stream.destroyed) stream.end();
    // If the hub does not finish the stream promptly, cut it: a stop must take effect within a second.
    setTimeout(() => {
      if (!stream.destroyed) stream.close(h2.NGHTTP2_CANCEL);
    }, 250).unref();
  }
}

/** A TCP connection to the appliance service a session reaches, within `timeoutMs`. */
export function connectTarget(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    const timer = setTimeout(() => socket.destroy(new Error('connect timed out')), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Why a running session ends when the policy no longer lets it continue (mayContinue's code). */
export function endReasonFor(code: ErrorCode): SessionEndReason {
  switch (code) {
    case 'POLICY_REMOTE_OFF':
      return 'remote-service-off';
    case 'POLICY_ACCESS_NONE':
      return 'access-none';
    case 'POLICY_DENIED_BY_RULE':
      return 'rule-denied';
    default:
      return 'rule-ended';
  }
}
