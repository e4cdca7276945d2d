// Requests for more error data, from the agent's side. The appliance only dials out: every
// `callhome.pollInterval` (and right after start) the agent asks the hub for open requests, keeps
// the new ones and audits them (`datarequest.received`). The administrator answers (after
// attaching the data to the problem) or declines, with a note; the answer is stored first and sent
// directly to the hub (POST /v1/data-requests/:id/answer), retried at each poll until the hub
// acknowledges it.

import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import {
  dataRequestAnswerResultSchema,
  dataRequestListSchema,
  type DataRequestAnswer,
} from '../../protocol/index.js';
import type { Kysely } from 'kysely';
import type { AgentDatabase } from '../store/index.js';
import { AgentDataRequestStore, type AgentDataRequest } from './data-request-store.js';

const refusedForGood = new Set(['API_NOT_FOUND', 'API_BAD_REQUEST']);

/** The call-home requests this needs (CallHomeClient.request). */
export interface DataRequestChannel {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export interface DataRequestDeskOptions {
  store: AgentDataRequestStore;
  channel: DataRequestChannel;
  clock: Clock;
  logger: Logger;
  /** Writes an agent audit entry. */
  record: (actor: string, action: string, detail: Record<string, unknown>) => Promise<unknown>;
  pollIntervalMs: number;
}

export class DataRequestDesk {
  readonly #store: AgentDataRequestStore;
  readonly #channel: DataRequestChannel;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #record: DataRequestDeskOptions['record'];
  readonly #pollIntervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(options: DataRequestDeskOptions) {
    this.#store = options.store;
    this.#channel = options.channel;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#record = options.record;
    this.#pollIntervalMs = options.pollIntervalMs;
  }

  /** Polls now, then every pollInterval. Idempotent. */
  start(): void {
    if (this.#closed || this.#timer || this.#running) return;
    this.#tick();
  }

  #tick(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#running = this.pollOnce()
      .catch((err: unknown) => {
        this.#logger.info(
          { err: (err as Error).message },
          'data requests: call home failed; trying again later',
        );
      })
      .then(() => {
        this.#running = undefined;
        if (this.#closed) return;
        if (this.#again) {
          this.#again = false;
          this.#tick();
          return;
        }
        this.#timer = setTimeout(() => this.#tick(), this.#pollIntervalMs);
        this.#timer.unref();
      });
  }

  /** Sends answers now rather than at the next poll (after the administrator answered). */
  #wake(): void {
    if (this.#closed) return;
    if (this.#running) this.#again = true;
    else if (this.#timer) this.#tick();
  }

  /** One round: fetch the open requests, keep and audit the new ones, deliver waiting answers. */
  async pollOnce(): Promise<{ received: AgentDataRequest[]; delivered: number }> {
    const received: AgentDataRequest[] = [];
    const answer = dataRequestListSchema.safeParse(await this.#channel.request('GET', '/v1/data-requests'));
    if (!answer.success) {
      throw new LifelineError(
        'INTERNAL',
        `the hub's data requests do not fit their schema: ${answer.error.message}`,
      );
    }
    for (const request of answer.data.requests) {
      if (await this.#store.get(request.id)) continue;
      // Audited first: a request the appliance keeps is always on record.
      await this.#record('hub', 'datarequest.received', {
        requestId: request.id,
        problemNumber: request.problemNumber,
        localId: request.localId,
        note: request.note,
      });
      if (await this.#store.addReceived(request, this.#clock.now())) {
        const stored = await this.#store.get(request.id);
        if (stored) received.push(stored);
      }
    }
    let delivered = 0;
    for (const waiting of await this.#store.undelivered()) {
      if (waiting.state === 'open') continue;
      const body: DataRequestAnswer = {
        state: waiting.state,
        note: waiting.answerNote,
        answeredAtMs: waiting.answeredAtMs ?? this.#clock.now(),
      };
      let hubState: string;
      try {
        const result = dataRequestAnswerResultSchema.parse(
          await this.#channel.request(
            'POST',
            `/v1/data-requests/${encodeURIComponent(waiting.id)}/answer`,
            body,
          ),
        );
        hubState = result.state;
      } catch (err) {
        // The hub refused this answer for good (its request is gone): settled, on record, not retried.
        if (!(err instanceof LifelineError) || !refusedForGood.has(err.code)) throw err;
        await this.#store.markDelivered(waiting.id, this.#clock.now());
        await this.#record('agent', 'datarequest.answer.refused', {
          requestId: waiting.id,
          code: err.code,
          message: err.message,
        });
        continue;
      }
      await this.#store.markDelivered(waiting.id, this.#clock.now());
      await this.#record('agent', 'datarequest.answer.delivered', {
        requestId: waiting.id,
        state: waiting.state,
        hubState,
      });
      delivered += 1;
    }
    return { received, delivered };
  }

  list(): Promise<AgentDataRequest[]> {
    return this.#store.list();
  }

  /**
   * The administrator's answer: `answered` (the data was attached to the problem) or `declined`.
   * Audited, stored, then sent to the hub as soon as it can be.
   */
  async answer(
    id: string,
    state: 'answered' | 'declined',
    note: string | null,
    actor: string,
  ): Promise<AgentDataRequest> {
    const request = await this.#store.get(id);
    if (!request) throw new LifelineError('API_NOT_FOUND', `no data request ${id}`);
    if (request.state !== 'open') {
      throw new LifelineError(
        'CALLHOME_DATA_REQUEST_CLOSED',
        `data request ${id} was ${request.state} already`,
      );
    }
    await this.#record(actor, state === 'answered' ? 'datarequest.answered' : 'datarequest.declined', {
      requestId: id,
      problemNumber: request.problemNumber,
      localId: request.localId,
      note,
    });
    const answered = await this.#store.answer(id, { state, note, by: actor, nowMs: this.#clock.now() });
    this.#wake();
    return answered;
  }

  /** Stops polling; a round in progress finishes first. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}

/** The desk on the running agent: its store on agent.db, polling the hub from now on. */
export function startDataRequests(
  deps: Omit<DataRequestDeskOptions, 'store'> & { db: Kysely<AgentDatabase> },
): DataRequestDesk {
  const { db, ...options } = deps;
  const desk = new DataRequestDesk({ ...options, store: new AgentDataRequestStore(db) });
  desk.start();
  return desk;
}
