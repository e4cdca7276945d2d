// Live updates for the web pages as server-sent events: the server says which topics changed
// ("status", "sessions", ...) and each page fetches just those through the ordinary API, so the
// feed carries no data of its own and needs no second authorization model. Changes are gathered
// for a moment so that a burst (a thousand reports) makes one event, not a thousand.

/** What serve() needs of a Fastify request and reply, over HTTP/1.1 or HTTP/2 alike. */
interface FeedRequest {
  raw: { once(event: 'close', listener: () => void): unknown };
}
interface FeedReply {
  hijack(): void;
  code(status: number): { send(payload: unknown): unknown };
  raw: {
    writeHead(status: number, headers: Record<string, string>): unknown;
    write(chunk: string): unknown;
    end(): unknown;
    once(event: 'close', listener: () => void): unknown;
  };
}

export interface ChangeFeedOptions {
  /** Changes within this long are sent as one event. */
  gatherMs?: number;
  /** A comment line this often keeps proxies and browsers from closing an idle stream. */
  keepAliveMs?: number;
  /** More subscribers than this are refused (503): each is an open connection. */
  maxSubscribers?: number;
}

export class ChangeFeed {
  readonly #gatherMs: number;
  readonly #keepAliveMs: number;
  readonly #maxSubscribers: number;
  readonly #subscribers = new Map<(topics: readonly string[]) => void, { end: () => void }>();
  #pending = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: ChangeFeedOptions = {}) {
    this.#gatherMs = options.gatherMs ?? 150;
    this.#keepAliveMs = options.keepAliveMs ?? 15_000;
    this.#maxSubscribers = options.maxSubscribers ?? 64;
  }

  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** Something in these topics changed. Cheap: call it from any event. */
  changed(...topics: string[]): void {
    if (this.#closed || this.#subscribers.size === 0) return;
    for (const topic of topics) this.#pending.add(topic);
    this.#timer ??= setTimeout(() => this.#flush(), this.#gatherMs);
  }

  #flush(): void {
    this.#timer = undefined;
    const topics = [...this.#pending].sort();
    this.#pending = new Set();
    if (topics.length === 0) return;
    for (const send of this.#subscribers.keys()) send(topics);
  }

  /** A route handler: GET … with `accept: text/event-stream`. */
  async serve(request: FeedRequest, reply: FeedReply): Promise<void> {
    if (this.#closed || this.#subscribers.size >= this.#maxSubscribers) {
      await reply.code(503).send({ code: 'API_BUSY', message: 'too many live pages are open' });
      return;
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // No buffering by reverse proxies: an event must reach the page at once.
      'x-accel-buffering': 'no',
    });
    raw.write(`retry: 2000\n\nevent: hello\ndata: {"topics":[]}\n\n`);
    const send = (topics: readonly string[]) => {
      raw.write(`event: change\ndata: ${JSON.stringify({ topics })}\n\n`);
    };
    this.#subscribers.set(send, raw);
    const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), this.#keepAliveMs);
    const done = () => {
      clearInterval(keepAlive);
      this.#subscribers.delete(send);
    };
    request.raw.once('close', done);
    raw.once('close', done);
  }

  /** Ends every stream (server shutdown) and refuses new ones. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    // An open stream would keep the server from closing.
    for (const raw of this.#subscribers.values()) raw.end();
    this.#subscribers.clear();
  }
}
