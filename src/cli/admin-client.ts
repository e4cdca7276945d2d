// Talks to the running agent's admin API, found through its data directory.

import { readFileSync } from 'node:fs';
import { answerError, readAnswer } from '../common/net/index.js';
import { LifelineError } from '../common/errors.js';
import { agentPaths, type RuntimeInfo } from '../agent/index.js';

export class AdminClient {
  readonly #baseUrl: string;
  readonly #token: string;
  /** The process that wrote the run file: the agent, if it still runs. */
  readonly pid: number;

  constructor(dataDir: string) {
    const paths = agentPaths(dataDir);
    let runtime: RuntimeInfo;
    try {
      runtime = JSON.parse(readFileSync(paths.runtime, 'utf8')) as RuntimeInfo;
      this.#token = readFileSync(paths.adminToken, 'utf8').trim();
    } catch {
      throw new LifelineError(
        'API_UNREACHABLE',
        `no agent has run from ${dataDir}: start it with lifeline agent start --data ${dataDir}`,
      );
    }
    this.#baseUrl = runtime.adminUrl;
    this.pid = runtime.pid;
  }

  /**
   * The Diagnostics page with the credential in the URL's fragment (which a browser never sends to
   * a server): open it to be signed in. It holds a secret, so it is printed only when asked for.
   */
  diagnosticsLink(): string {
    return `${this.#baseUrl}/ui/diagnostics/#token=${encodeURIComponent(this.#token)}`;
  }

  /** The answer's body as text, byte for byte (for payloads shown exactly as they are). */
  async requestText(method: string, path: string): Promise<string> {
    const response = await this.#fetch(method, path);
    const text = await response.text();
    if (!response.ok) throw answerError(response.status, text, 'the agent');
    return text;
  }

  async #fetch(method: string, path: string, body?: unknown): Promise<Response> {
    try {
      return await fetch(this.#baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new LifelineError('API_UNREACHABLE', `the agent is not running (no answer at ${this.#baseUrl})`, {
        cause: err,
      });
    }
  }

  /** Sends a stream of bytes (a file to stage) without holding it in memory; answers JSON. */
  async sendStream<T>(path: string, body: ReadableStream<Uint8Array>): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.#baseUrl + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/octet-stream' },
        body,
        duplex: 'half',
      });
    } catch (err) {
      throw new LifelineError(
        'API_UNREACHABLE',
        `the agent did not take the file (at ${this.#baseUrl}): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    return readAnswer<T>(response.status, await response.text(), 'the agent');
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.#fetch(method, path, body);
    return readAnswer<T>(response.status, await response.text(), 'the agent');
  }
}
