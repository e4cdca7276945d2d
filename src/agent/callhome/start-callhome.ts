// Call home on the running agent: the outbox and its sender, the problem desk that writes through
// it, the retention of what was sent, and the newest transmission the hub accepted. close() stops
// them; a delivery in flight commits first.

import type { Kysely } from 'kysely';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { AuditLog } from '../audit/index.js';
import type { AgentConfig } from '../config.js';
import type { CallHomeClient } from '../link/index.js';
import { settingKeys, type AgentDatabase, type AgentStore } from '../store/index.js';
import { SentReportPurger } from './outbox-retention.js';
import { OutboxStore } from './outbox-store.js';
import { Outbox, type OutboxOptions } from './outbox.js';
import { ProblemDesk } from './problem-desk.js';
import { ProblemStore } from './problem-store.js';
import { settlementRecorder } from './settlement-audit.js';

export interface CallHomeDeps {
  db: Kysely<AgentDatabase>;
  store: Pick<AgentStore, 'getSetting'>;
  hub: Pick<CallHomeClient, 'postRaw'>;
  audit: AuditLog;
  settings: Readonly<AgentConfig['callhome']>;
  /** Redaction: rewrites a payload before it is stored and sent. */
  transformPayload?: OutboxOptions['transformPayload'];
  /** Throws STORE_FULL when the disk has no room for a new report (StoreSpace.ensureRoom). */
  ensureRoom: () => Promise<void>;
  clock: Clock;
  logger: Logger;
}

export interface CallHome {
  outbox: Outbox;
  problems: ProblemDesk;
  /** Maintenance mode as the administrator left it: nothing is sent before then (null: none). */
  pausedUntilMs: number | null;
  /** The newest transmission the hub accepted: reports here, upload steps told by the uploader. */
  lastAccepted: LastAccepted;
  close(): Promise<void>;
}

export async function startCallHome(deps: CallHomeDeps): Promise<CallHome> {
  const { hub, audit, settings, clock, logger } = deps;
  const outbox = new Outbox({
    store: new OutboxStore(deps.db),
    deliver: (body, signal, headers) => hub.postRaw('/v1/reports', body, signal, headers),
    deliverBatch: (body, signal, headers) => hub.postRaw('/v1/reports/batch', body, signal, headers),
    clock,
    logger,
    maxPending: settings.maxPending,
    review: settings.review,
    ...(deps.transformPayload ? { transformPayload: deps.transformPayload } : {}),
    recordSettled: settlementRecorder(audit),
    ensureRoom: deps.ensureRoom,
  });
  const problems = new ProblemDesk({
    store: new ProblemStore(deps.db),
    outbox,
    clock,
    logger,
    stormWindowMs: settings.stormWindow,
  });
  problems.watch(outbox);
  // Read before anything runs: a failure here leaves nothing to stop.
  await problems.recoverNumbers();
  const paused = await deps.store.getSetting(settingKeys.callHomePausedUntil);
  const pausedUntilMs = typeof paused === 'number' && paused > clock.now() ? paused : null;
  if (pausedUntilMs !== null) outbox.pause(pausedUntilMs);
  const purger = new SentReportPurger({
    db: deps.db,
    keepSentMs: settings.keepSent,
    clock,
    logger,
    record: (action, detail) => audit.record('agent', action, detail),
  });
  const lastAccepted = new LastAccepted(outbox.store);
  outbox.on('attempt', (event) => {
    if (event.type === 'sent')
      lastAccepted.note({ atMs: clock.now(), kind: event.kind, status: event.status });
  });
  outbox.start();
  purger.start();
  return {
    outbox,
    problems,
    pausedUntilMs,
    lastAccepted,
    async close() {
      await outbox.close();
      await purger.close();
    },
  };
}

export interface AcceptedTransmission {
  atMs: number;
  kind: string;
  status: number;
}

/** The newest transmission the hub accepted (2xx), kept up to date as they happen. */
export class LastAccepted {
  readonly #store: Pick<OutboxStore, 'listTransmissions'>;
  /** Undefined until known: from an event, or from the transmission log once. */
  #last: AcceptedTransmission | null | undefined;

  constructor(store: Pick<OutboxStore, 'listTransmissions'>) {
    this.#store = store;
  }

  /** A transmission the hub just accepted. */
  note(accepted: AcceptedTransmission): void {
    this.#last = accepted;
  }

  /** Null before the first. The transmission log is read only while nothing was noted. */
  async get(): Promise<AcceptedTransmission | null> {
    if (this.#last !== undefined) return this.#last;
    // The newest transmissions are few to scan: a failed one is followed by a retry soon enough.
    const recent = await this.#store.listTransmissions({ newestFirst: true, limit: 50 });
    const accepted = recent.find((t) => t.status >= 200 && t.status < 300);
    // An event may have come while the log was read: the event is newer.
    this.#last ??= accepted ? { atMs: accepted.atMs, kind: accepted.kind, status: accepted.status } : null;
    return this.#last;
  }
}
