// Talks to the running agent's admin API, found through its data directory.

import { readFileSync } from 'node:fs';
import { LifelineError, isErrorCode } from '../common/errors.js';
import { agentPaths, type RuntimeInfo } from '../agent/index.js';

export class AdminClient {
  readonly #baseUrl: string;
  readonly #token: string;

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
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.#baseUrl + path, {
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
    const payload = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (!response.ok) {
      const code = isErrorCode(payload.code) ? payload.code : 'INTERNAL';
      throw new LifelineError(
        code,
        typeof payload.message === 'string' ? payload.message : `HTTP ${response.status}`,
      );
    }
    return payload as T;
  }
}
