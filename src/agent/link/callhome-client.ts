// The agent's call-home channel: ordinary HTTP/2 requests to the hub over mutual TLS (ALPN h2),
// with the station certificate, trusting only the pinned hub CA. One connection, opened when
// needed through the HubDialer (endpoints in order, the customer's proxy if any) and reopened
// after it fails; when the dialer moves back to a preferred endpoint, the next connection goes there.
// A hub node that drains sends the connection away (GOAWAY with a `reconnect=elsewhere` hint): the
// requests in flight are answered, and the next connection goes to the next endpoint.

import { isIP } from 'node:net';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import {
  constants as h2constants,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
} from 'node:http2';
import { readAnswer } from '../../common/net/index.js';
import { LifelineError } from '../../common/errors.js';
import { parseHostPort } from '../../common/net/index.js';
import { alpnCallHome, parseGoawayHint } from '../../protocol/index.js';
import { drainingAvoidMs, type HubDialer } from './hub-dialer.js';
import { isLinkFailure, toLinkError } from './link-errors.js';

/** What the hub answered a request: its HTTP status and body (JSON, or a line of text). */
export interface HubAnswer {
  status: number;
  answer: string;
}

export interface CallHomeClientOptions {
  dialer: HubDialer;
  timeoutMs?: number;
}

export class CallHomeClient {
  readonly #options: CallHomeClientOptions;
  #session: ClientHttp2Session | undefined;
  #opening: Promise<ClientHttp2Session> | undefined;
  #closed = false;
  readonly #onFailback = () => {
    // Requests in flight finish on the old connection; the next one dials the preferred endpoint.
    this.#session?.close();
    this.#session = undefined;
  };

  constructor(options: CallHomeClientOptions) {
    this.#options = options;
    options.dialer.on('failback', this.#onFailback);
  }

  #open(): Promise<ClientHttp2Session> {
    const open = this.#session;
    if (open && !open.closed && !open.destroyed) return Promise.resolve(open);
    this.#opening ??= this.#dial().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #dial(): Promise<ClientHttp2Session> {
    // A proxy CONNECT and the TLS handshake come first; HTTP/2 then runs on the socket they made.
    const { socket, endpoint, index } = await this.#options.dialer.dial(alpnCallHome);
    if (this.#closed) {
      socket.destroy();
      throw new LifelineError('API_UNREACHABLE', 'the call-home client is closed');
    }
    const { host, port } = parseHostPort(endpoint, 'hub endpoint');
    const session = h2connect(`https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`, {
      createConnection: () => socket,
      // Attachment chunks in flight hold tens of MiB on this session (see the hub's side).
      maxSessionMemory: 64,
    });
    session.on('error', () => undefined);
    session.on('goaway', (_code: number, _lastStreamId: number, data?: Buffer) => {
      if (data && parseGoawayHint(data.toString('utf8'))?.elsewhere)
        this.#options.dialer.avoid(index, drainingAvoidMs);
    });
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
    let answer: HubAnswer;
    try {
      answer = await this.#exchange(method, path, body === undefined ? undefined : JSON.stringify(body));
    } catch (err) {
      // A proxy's refusal says more than "unreachable": its code and message go to the caller.
      if (err instanceof LifelineError && err.code.startsWith('PROXY_')) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new LifelineError(
        isLinkFailure(err) ? err.code : 'API_UNREACHABLE',
        `the hub at ${this.#options.dialer.current.endpoint} is not reachable: ${message}`,
        { cause: err },
      );
    }
    return readAnswer<T>(answer.status, answer.answer, 'the hub');
  }

  /** POSTs exact bytes; resolves with whatever HTTP answer came, rejects when none came. */
  postRaw(
    path: string,
    body: string,
    signal?: AbortSignal,
    headers?: Record<string, string>,
  ): Promise<HubAnswer> {
    return this.#exchange('POST', path, body, signal, headers);
  }

  async #exchange(
    method: string,
    path: string,
    body: string | undefined,
    signal?: AbortSignal,
    headers: Record<string, string> = {},
  ): Promise<HubAnswer> {
    const session = await this.#open();
    return new Promise((resolve, reject) => {
      const stream = session.request(
        {
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
          ':method': method,
          ':path': path,
        },
        signal ? { signal } : {},
      );
      const timeoutMs = this.#options.timeoutMs ?? 15_000;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        stream.close();
      }, timeoutMs);
      let status = 0;
      const chunks: Buffer[] = [];
      stream.on('response', (headers) => {
        status = Number(headers[':status']);
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('error', (err: Error) => {
        clearTimeout(timer);
        reject(streamFailure(err));
      });
      stream.once('close', () => {
        clearTimeout(timer);
        if (status === 0) reject(noAnswer(timedOut ? timeoutMs : undefined));
        else resolve({ status, answer: Buffer.concat(chunks).toString('utf8') });
      });
      stream.end(body);
    });
  }

  /**
   * A GET whose answer is read as a stream (fix downloads): resolves when the answer's headers
   * arrive. A stream silent for `timeoutMs` is cancelled; the caller checks it got every byte.
   */
  async getStream(
    path: string,
    headers: Record<string, string> = {},
  ): Promise<{
    status: number;
    headers: IncomingHttpHeaders & IncomingHttpStatusHeader;
    body: ClientHttp2Stream;
  }> {
    const session = await this.#open();
    return new Promise((resolve, reject) => {
      const stream = session.request({ ...headers, ':method': 'GET', ':path': path });
      const timeoutMs = this.#options.timeoutMs ?? 15_000;
      let timedOut = false;
      stream.setTimeout(timeoutMs, () => {
        timedOut = true;
        stream.close(h2constants.NGHTTP2_CANCEL);
      });
      stream.once('response', (answer) =>
        resolve({ status: Number(answer[':status']), headers: answer, body: stream }),
      );
      // Before the answer: no answer at all. After it, these settle nothing; the reader sees them.
      stream.once('error', (err: Error) => reject(streamFailure(err)));
      stream.once('close', () => reject(noAnswer(timedOut ? timeoutMs : undefined)));
      stream.end();
    });
  }

  /**
   * Sends exact bytes (an attachment chunk, or a JSON step of an upload) with the given headers over
   * the one call-home connection; resolves with whatever HTTP answer came, rejects when none came.
   * The timeout is of silence, not of the whole exchange: a large chunk on a slow line may take long.
   */
  async sendBytes(
    method: string,
    path: string,
    body: Uint8Array | undefined,
    headers: Record<string, string>,
    options: {
      signal?: AbortSignal;
      idleTimeoutMs?: number;
      /** Called once the whole body was handed to the connection (not when the hub answers). */
      onBodySent?: () => void;
    } = {},
  ): Promise<HubAnswer> {
    const session = await this.#open();
    return new Promise((resolve, reject) => {
      const stream = session.request(
        { ...headers, ':method': method, ':path': path },
        options.signal ? { signal: options.signal } : {},
      );
      const idleTimeoutMs = options.idleTimeoutMs ?? this.#options.timeoutMs ?? 15_000;
      let timedOut = false;
      stream.setTimeout(idleTimeoutMs, () => {
        timedOut = true;
        stream.close(h2constants.NGHTTP2_CANCEL);
      });
      let status = 0;
      const chunks: Buffer[] = [];
      stream.once('response', (answer) => {
        status = Number(answer[':status']);
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('error', (err: Error) => reject(streamFailure(err)));
      stream.once('close', () => {
        if (status === 0) reject(noAnswer(timedOut ? idleTimeoutMs : undefined, 'silent'));
        else resolve({ status, answer: Buffer.concat(chunks).toString('utf8') });
      });
      if (options.onBodySent) stream.once('finish', options.onBodySent);
      stream.end(body);
    });
  }

  /** New credentials (renewal): requests in flight finish, the next one dials with the new ones. */
  reconnect(): void {
    this.#onFailback();
  }

  close(): void {
    this.#closed = true;
    this.#options.dialer.off('failback', this.#onFailback);
    this.#session?.close();
    this.#session = undefined;
  }
}

/** A request's stream failed: the connection broke (LINK_RESET), or the caller stopped it. */
function streamFailure(err: Error): Error {
  if (err.name === 'AbortError') return err;
  return toLinkError(err, `the connection to the hub failed: ${err.message}`, 'LINK_RESET');
}

/** The stream ended without an answer: it timed out, or the connection closed under it. */
function noAnswer(timedOutAfterMs: number | undefined, how: 'within' | 'silent' = 'within'): LifelineError {
  if (timedOutAfterMs === undefined)
    return new LifelineError('LINK_RESET', 'no answer: the connection closed before the hub answered');
  return new LifelineError(
    'LINK_TIMEOUT',
    how === 'silent'
      ? `no answer: the hub was silent for ${timedOutAfterMs} ms`
      : `no answer: the hub did not answer within ${timedOutAfterMs} ms`,
  );
}
