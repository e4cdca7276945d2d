// Talking to the server that served the page: JSON requests with the bearer credential, and the
// live event stream (server-sent events read through fetch, since EventSource cannot send an
// Authorization header and the credential must not travel in a URL).

import { useCallback, useMemo, useState } from 'preact/hooks';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ServerEvent {
  event: string;
  data: unknown;
}

export class ApiClient {
  readonly #credential: () => string | null;
  readonly #onUnauthorized: () => void;

  constructor(credential: () => string | null, onUnauthorized: () => void) {
    this.#credential = credential;
    this.#onUnauthorized = onUnauthorized;
  }

  #headers(json: boolean): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const credential = this.#credential();
    if (credential) headers.authorization = `Bearer ${credential}`;
    if (json) headers['content-type'] = 'application/json';
    return headers;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(path, {
      method,
      headers: this.#headers(body !== undefined),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      cache: 'no-store',
    });
    const text = await response.text();
    let payload: Record<string, unknown> = {};
    try {
      payload = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // Reported by status below.
    }
    if (response.status === 401) this.#onUnauthorized();
    if (!response.ok) {
      throw new ApiError(
        response.status,
        typeof payload.code === 'string' ? payload.code : 'HTTP_' + String(response.status),
        typeof payload.message === 'string' ? payload.message : `the server answered ${response.status}`,
      );
    }
    return payload as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /**
   * Follows the server's event stream until `signal` aborts, reconnecting after a break; `onState`
   * tells the page whether it is live so it can say so.
   */
  /**
   * Follows an event stream, reconnecting with back-off. `onState` says whether it is live and,
   * when the server refused it (a share used up, a busy server), the server's reason.
   */
  async follow(
    path: string,
    onEvent: (event: ServerEvent) => void,
    onState: (live: boolean, refusal: string | null) => void,
    signal: AbortSignal,
  ): Promise<void> {
    let delayMs = 500;
    while (!signal.aborted) {
      let refusal: string | null = null;
      try {
        const response = await fetch(path, {
          headers: { ...this.#headers(false), accept: 'text/event-stream' },
          cache: 'no-store',
          signal,
        });
        if (response.status === 401) {
          this.#onUnauthorized();
          return;
        }
        if (!response.ok || !response.body) {
          const body = (await response.json().catch(() => ({}))) as { message?: unknown };
          refusal =
            typeof body.message === 'string' ? body.message : `the server answered ${response.status}`;
          throw new Error(refusal);
        }
        onState(true, null);
        delayMs = 500;
        for await (const event of parseEventStream(response.body)) onEvent(event);
      } catch {
        if (signal.aborted) return;
      }
      onState(false, refusal);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 10_000);
    }
  }
}

/** text/event-stream: blocks separated by a blank line, with `event:` and `data:` lines. */
/**
 * A page's credential, kept for this browser tab only (sessionStorage, under `key`), and the API
 * client that sends it. Signing out, or an answer saying the credential is no good, forgets it.
 */
export function useTabCredential(key: string): {
  credential: string | null;
  keep: (credential: string) => void;
  signOut: () => void;
  api: ApiClient;
} {
  const [credential, setCredential] = useState<string | null>(sessionStorage.getItem(key));
  const keep = useCallback(
    (value: string) => {
      sessionStorage.setItem(key, value);
      setCredential(value);
    },
    [key],
  );
  const signOut = useCallback(() => {
    sessionStorage.removeItem(key);
    setCredential(null);
  }, [key]);
  const api = useMemo(() => new ApiClient(() => sessionStorage.getItem(key), signOut), [key, signOut]);
  return { credential, keep, signOut, api };
}

export async function* parseEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length === 0) continue;
      try {
        yield { event, data: JSON.parse(data.join('\n')) as unknown };
      } catch {
        // A block that is not JSON is not ours: skip it.
      }
    }
  }
}
