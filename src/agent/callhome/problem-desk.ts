// The appliance's problems, from open to closed: each open, update and close becomes a report in the
// outbox, written in one commit with the problem's row in agent.db. Storm control: the same problem
// (reference code and system serial) reported again while open and within the storm window updates
// the open problem instead of opening another. The vendor's number is recorded from the hub's answer.

import { randomBytes } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { ReportAnswer } from '../../protocol/index.js';
import type { LocalProblem, ProblemStore } from './problem-store.js';
import type { OutboxState } from './outbox-store.js';
import type { Outbox, OutboxEvent } from './outbox.js';

const problemIdAlphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function newProblemId(): string {
  let id = '';
  for (const byte of randomBytes(6)) id += problemIdAlphabet.charAt(byte % 32);
  return `PB-${id}`;
}

export interface ProblemInput {
  summary: string;
  severity: string;
  referenceCode?: string | undefined;
  description?: string | undefined;
  system?: { serial: string; type?: string | undefined; model?: string | undefined } | undefined;
  parts?: string[] | undefined;
  /** Given by software that keeps its own ids (POST /v1/reports); made here otherwise. */
  localId?: string | undefined;
  occurredAtMs?: number | undefined;
}

export interface AcceptedReport {
  id: string;
  sha256: string;
  bytes: number;
  held: boolean;
}

export interface ProblemAccepted {
  localId: string;
  report: AcceptedReport;
  /** Storm control: the problem was open already, and this report counted one more occurrence. */
  reportedAgain: boolean;
  occurrences: number;
  vendorNumber: string | null;
}

/** A problem as the admin sees it: with where its opening report is while no number came back. */
export interface ProblemView extends LocalProblem {
  openReportState: OutboxState | null;
}

export class ProblemDesk {
  readonly #store: ProblemStore;
  readonly #outbox: Outbox;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #stormWindowMs: number;
  /** Check-then-write steps run one at a time, so two reports of one storm never open two problems. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: {
    store: ProblemStore;
    outbox: Outbox;
    clock: Clock;
    logger: Logger;
    stormWindowMs: number;
  }) {
    this.#store = options.store;
    this.#outbox = options.outbox;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#stormWindowMs = options.stormWindowMs;
  }

  /** Opens a problem, or, within the storm window, counts one more occurrence of the open one. */
  open(input: ProblemInput): Promise<ProblemAccepted> {
    return this.#serialized(async () => {
      const nowMs = this.#clock.now();
      const serial = input.system?.serial ?? null;
      const again =
        input.referenceCode === undefined
          ? undefined
          : await this.#store.findRecurrence(input.referenceCode, serial, nowMs - this.#stormWindowMs);
      if (again) return this.#reportAgain(again, input, nowMs);
      const localId = input.localId ?? newProblemId();
      if (input.localId !== undefined && (await this.#store.get(localId))) {
        throw new LifelineError('CALLHOME_REPORT_INVALID', `problem ${localId} was opened before`);
      }
      const { localId: _given, occurredAtMs, ...fields } = input;
      const payload = { localId, ...fields, occurredAtMs: occurredAtMs ?? nowMs };
      const report = await this.#outbox.accept('problem.open', payload, {
        orderKey: localId,
        alsoWrite: (trx, reportId) =>
          this.#store.insert(
            {
              localId,
              summary: input.summary,
              severity: input.severity,
              referenceCode: input.referenceCode,
              system: input.system,
              openReportId: reportId,
              nowMs,
            },
            trx,
          ),
      });
      return { localId, report, reportedAgain: false, occurrences: 1, vendorNumber: null };
    });
  }

  async #reportAgain(problem: LocalProblem, input: ProblemInput, nowMs: number): Promise<ProblemAccepted> {
    const occurrence = problem.occurrences + 1;
    const note = `reported again: occurrence ${occurrence} (${input.summary})`.slice(0, 20_000);
    let occurrences = occurrence;
    const report = await this.#outbox.accept(
      'problem.update',
      { localId: problem.localId, note },
      {
        orderKey: problem.localId,
        alsoWrite: async (trx) => {
          occurrences = await this.#store.recordOccurrence(problem.localId, nowMs, trx);
        },
      },
    );
    return {
      localId: problem.localId,
      report,
      reportedAgain: true,
      occurrences,
      vendorNumber: problem.vendorNumber,
    };
  }

  /** A note on an open problem; an unknown or closed problem is refused. */
  update(localId: string, note: string): Promise<ProblemAccepted> {
    return this.#serialized(async () => {
      const problem = await this.#openProblem(localId, 'update');
      const nowMs = this.#clock.now();
      const report = await this.#outbox.accept(
        'problem.update',
        { localId, note },
        { orderKey: localId, alsoWrite: (trx) => this.#store.touch(localId, nowMs, trx) },
      );
      return this.#accepted(problem, report);
    });
  }

  close(localId: string, note?: string): Promise<ProblemAccepted> {
    return this.#serialized(async () => {
      const problem = await this.#openProblem(localId, 'close');
      const nowMs = this.#clock.now();
      const report = await this.#outbox.accept(
        'problem.close',
        { localId, ...(note !== undefined ? { note } : {}) },
        { orderKey: localId, alsoWrite: (trx) => this.#store.close(localId, nowMs, trx) },
      );
      return this.#accepted(problem, report);
    });
  }

  async get(localId: string): Promise<ProblemView> {
    const problem = await this.#store.get(localId);
    if (!problem) throw new LifelineError('CALLHOME_PROBLEM_UNKNOWN', `no problem ${localId} on this agent`);
    return this.#view(problem);
  }

  async list(): Promise<ProblemView[]> {
    return Promise.all((await this.#store.list()).map((p) => this.#view(p)));
  }

  /** Listens to the outbox: a delivered problem report's answer carries the vendor's number. */
  watch(outbox: Outbox): void {
    outbox.on('attempt', (event: OutboxEvent) => {
      // Only problem reports carry a number: the rest need no look at the store.
      if (event.type !== 'sent' || !event.kind.startsWith('problem.')) return;
      void this.#recordNumber(event.id).catch((err: unknown) =>
        this.#logger.warn({ err, reportId: event.id }, 'cannot record the vendor problem number'),
      );
    });
  }

  /** After a restart: numbers whose answer was stored but not yet copied to the problem. */
  async recoverNumbers(): Promise<void> {
    for (const { openReportId } of await this.#store.withoutVendorNumber()) {
      await this.#recordNumber(openReportId);
    }
  }

  async #recordNumber(reportId: string): Promise<void> {
    const item = await this.#outbox.store.get(reportId);
    if (!item || item.state !== 'sent' || !item.kind.startsWith('problem.') || !item.answer) return;
    const number = (JSON.parse(item.answer) as Partial<ReportAnswer>).problemNumber;
    const localId = (JSON.parse(item.body) as { payload: { localId?: unknown } }).payload.localId;
    if (typeof number === 'string' && typeof localId === 'string') {
      await this.#store.setVendorNumber(localId, number);
    }
  }

  async #openProblem(localId: string, action: string): Promise<LocalProblem> {
    const problem = await this.#store.get(localId);
    if (!problem) {
      throw new LifelineError('CALLHOME_PROBLEM_UNKNOWN', `no problem ${localId} on this agent`);
    }
    if (problem.state === 'closed') {
      throw new LifelineError(
        'CALLHOME_PROBLEM_CLOSED',
        `problem ${localId} is closed: it cannot ${action === 'close' ? 'be closed again' : 'be updated'}; open a new one`,
      );
    }
    return problem;
  }

  #accepted(problem: LocalProblem, report: AcceptedReport): ProblemAccepted {
    return {
      localId: problem.localId,
      report,
      reportedAgain: false,
      occurrences: problem.occurrences,
      vendorNumber: problem.vendorNumber,
    };
  }

  async #view(problem: LocalProblem): Promise<ProblemView> {
    const openReportState =
      problem.vendorNumber === null
        ? ((await this.#outbox.store.get(problem.openReportId))?.state ?? null)
        : null;
    return { ...problem, openReportState };
  }

  #serialized<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(step, step);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
