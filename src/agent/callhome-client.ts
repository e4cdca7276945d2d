// The agent's call-home channel: ordinary HTTP/2 requests to the hub over mutual TLS (ALPN h2),
// with the station certificate, trusting only the pinned hub CA. One connection, opened when
// needed and reopened after it fails.

import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import {
  constants as h2constants,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
} from 'node:http2';
import { LifelineError, isErrorCode } from '../common/errors.js';
import { parseHostPort } from '../common/host-port.js';
import { alpnCallHome } from '../protocol/index.js';

export interface CallHomeClientOptions {
  endpoint: string;
  serverName: string | undefined;
  caPem: string;
  certPem: string;
  keyPem: string;
  timeoutMs?: number;
}

export class CallHomeClient {
  readonly #options: CallHomeClientOptions;
  #session: ClientHttp2Session | undefined;

  constructor(options: CallHomeClientOptions) {
    this.#options = options;
  }

  #open(): ClientHttp2Session {
    if (this.#session && !this.#session.closed && !this.#session.destroyed) return this.#session;
    const { host, port } = parseHostPort(this.#options.endpoint, 'hub endpoint');
    const servername = this.#options.serverName ?? (isIP(host) ? undefined : host);
    const session = h2connect(`https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`, {
      createConnection: () =>
        tlsConnect({
          host,
          port,
          ...(servername ? { servername } : {}),
          ca: this.#options.caPem,
          cert: this.#options.certPem,
          key: this.#options.keyPem,
          ALPNProtocols: [alpnCallHome],
          minVersion: 'TLSv1.3',
        }),
    });
    session.on('error', () => undefined);
    session.once('close', () => {
      if (this.#session === session) this.#session = undefined;
    });
    // An idle call-home connection is not kept: it is cheap to open again.
    session.setTimeout(30_000, () => session.close());
    this.#session = session;
    return session;
  }

  /** A JSON request; an error answer becomes a LifelineError with the hub's code and message. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let answer: { status: number; answer: string };
    try {
      answer = await this.#exchange(method, path, body === undefined ? undefined : JSON.stringify(body));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new LifelineError(
        'API_UNREACHABLE',
        `the hub at ${this.#options.endpoint} is not reachable: ${message}`,
        {
          cause: err,
        },
      );
    }
    let payload: Record<string, unknown> = {};
    try {
      payload = JSON.parse(answer.answer || '{}') as Record<string, unknown>;
    } catch {
      // A non-JSON answer is reported by its status below.
    }
    if (answer.status >= 200 && answer.status < 300) return payload as T;
    const code = isErrorCode(payload.code) ? payload.code : 'INTERNAL';
    throw new LifelineError(
      code,
      typeof payload.message === 'string' ? payload.message : `the hub answered HTTP ${answer.status}`,
    );
  }

  /** POSTs exact bytes; resolves with whatever HTTP answer came, rejects when none came. */
  postRaw(
    path: string,
    body: string,
    signal?: AbortSignal,
    headers?: Record<string, string>,
  ): Promise<{ status: number; answer: string }> {
    return this.#exchange('POST', path, body, signal, headers);
  }

  #exchange(
    method: string,
    path: string,
    body: string | undefined,
    signal?: AbortSignal,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; answer: string }> {
    return new Promise((resolve, reject) => {
      let session: ClientHttp2Session;
      try {
        session = this.#open();
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const stream = session.request(
        {
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
          ':method': method,
          ':path': path,
        },
        signal ? { signal } : {},
      );
      const timer = setTimeout(() => stream.close(), this.#options.timeoutMs ?? 15_000);
      let status = 0;
      const chunks: Buffer[] = [];
      stream.on('response', (headers) => {
        status = Number(headers[':status']);
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
      stream.once('close', () => {
        clearTimeout(timer);
        if (status === 0) reject(new Error('no answer'));
        else resolve({ status, answer: Buffer.concat(chunks).toString('utf8') });
      });
      stream.end(body);
    });
  }

  /**
   * A GET whose answer is read as a stream (fix downloads): resolves when the answer's headers
   * arrive. A stream silent for `timeoutMs` is cancelled; the caller checks it got every byte.
   */
  getStream(
    path: string,
    headers: Record<string, string> = {},
  ): Promise<{
    status: number;
    headers: IncomingHttpHeaders & IncomingHttpStatusHeader;
    body: ClientHttp2Stream;
  }> {
    return new Promise((resolve, reject) => {
      let session: ClientHttp2Session;
      try {
        session = this.#open();
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const stream = session.request({ ...headers, ':method': 'GET', ':path': path });
      stream.setTimeout(this.#options.timeoutMs ?? 15_000, () => stream.close(h2constants.NGHTTP2_CANCEL));
      stream.once('response', (answer) =>
        resolve({ status: Number(answer[':status']), headers: answer, body: stream }),
      );
      // Before the answer: no answer at all. After it, these settle nothing; the reader sees them.
      stream.once('error', reject);
      stream.once('close', () => reject(new Error('no answer')));
      stream.end();
    });
  }

  /**
   * Sends exact bytes (an attachment chunk, or a JSON step of an upload) with the given headers over
   * the one call-home connection; resolves with whatever HTTP answer came, rejects when none came.
   * The timeout is of silence, not of the whole exchange: a large chunk on a slow line may take long.
   */
  sendBytes(
    method: string,
    path: string,
    body: Uint8Array | undefined,
    headers: Record<string, string>,
    options: { signal?: AbortSignal; idleTimeoutMs?: number } = {},
  ): Promise<{ status: number; answer: string }> {
    return new Promise((resolve, reject) => {
      let session: ClientHttp2Session;
      try {
        session = this.#open();
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const stream = session.request(
        { ...headers, ':method': method, ':path': path },
        options.signal ? { signal: options.signal } : {},
      );
      stream.setTimeout(options.idleTimeoutMs ?? this.#options.timeoutMs ?? 15_000, () =>
        stream.close(h2constants.NGHTTP2_CANCEL),
      );
      let status = 0;
      const chunks: Buffer[] = [];
      stream.once('response', (answer) => {
        status = Number(answer[':status']);
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('error', reject);
      stream.once('close', () => {
        if (status === 0) reject(new Error('no answer'));
        else resolve({ status, answer: Buffer.concat(chunks).toString('utf8') });
      });
      stream.end(body);
    });
  }

  close(): void {
    this.#session?.close();
    this.#session = undefined;
  }
}
