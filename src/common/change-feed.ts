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

/** One owner's share of the subscribers (a signed-in user's, on the hub). */
export interface FeedShare {
  owner: string;
  /** The most subscribers this owner may hold at once. */
  max: number;
  /** The error thrown (before anything is sent) when the owner holds `max` already. */
  refuse: (held: number) => Error;
}

export class ChangeFeed {
  readonly #gatherMs: number;
  readonly #keepAliveMs: number;
  readonly #maxSubscribers: number;
  readonly #subscribers = new Map<(topics: readonly string[]) => void, { end: () => void }>();
  /** Subscribers per owner, for the owners' shares. */
  readonly #held = new Map<string, number>();
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

  /** How many subscribers this owner holds now. */
  heldBy(owner: string): number {
    return this.#held.get(owner) ?? 0;
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

  /**
   * A route handler: GET … with `accept: text/event-stream`. With a `share`, an owner holding its
   * share already gets `share.refuse` thrown, so one owner cannot take every subscriber.
   */
  async serve(request: FeedRequest, reply: FeedReply, share?: FeedShare): Promise<void> {
    if (this.#closed || this.#subscribers.size >= this.#maxSubscribers) {
      await reply.code(503).send({ code: 'API_BUSY', message: 'too many live pages are open' });
      return;
    }
    const owner = share?.owner;
    if (share && this.heldBy(share.owner) >= share.max) throw share.refuse(this.heldBy(share.owner));
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
    if (owner !== undefined) this.#held.set(owner, this.heldBy(owner) + 1);
    const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), this.#keepAliveMs);
    const done = () => {
      clearInterval(keepAlive);
      // 'close' comes from the request and from the reply: the stream is counted off once.
      if (!this.#subscribers.delete(send) || owner === undefined) return;
      const held = this.heldBy(owner) - 1;
      if (held > 0) this.#held.set(owner, held);
      else this.#held.delete(owner);
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
    this.#held.clear();
  }
}
