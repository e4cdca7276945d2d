// The hub's retention: which call-home data has outlived its period at a given time (pure), and
// the run that removes it through the store, writing every purge to the audit log. Runs on a
// schedule in the hub and on demand (`lifeline hub retention run --now TIME`). Open problems are
// never touched, and each station's latest inventory is kept however old it is.

import { z } from 'zod';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { HubAuditEntry, HubStore } from '../store/index.js';
import {
  discardUnfinishedUploadsIdleSince,
  purgeAttachmentsReceivedBefore,
  type BlobStore,
  type RemovedFile,
} from '../attachments/index.js';
import type { RetentionConfig } from './retention-config.js';

export type RetentionRule = 'problemData' | 'closedProblems' | 'inventory' | 'performance' | 'heartbeats';
export const retentionRules = [
  'problemData',
  'closedProblems',
  'inventory',
  'performance',
  'heartbeats',
] as const satisfies readonly RetentionRule[];

/** For each rule, data older than its cutoff (received, or closed, before it) goes. */
export type RetentionPlan = { nowMs: number } & Record<RetentionRule, { keepMs: number; cutoffMs: number }>;

export function planRetention(config: Omit<RetentionConfig, 'interval'>, nowMs: number): RetentionPlan {
  const plan = { nowMs } as RetentionPlan;
  for (const rule of retentionRules) plan[rule] = { keepMs: config[rule], cutoffMs: nowMs - config[rule] };
  return plan;
}

/**
 * Removes the files of uploads completed before the cutoff (rows kept, marked purged) and the
 * partial files of uploads left unfinished since before it (rows back to byte 0); says which.
 */
export type PurgeProblemData = (
  cutoffMs: number,
) => Promise<{ files: RemovedFile[]; unfinished: RemovedFile[] }>;

const count = z.number().int().nonnegative();
const ids = z.array(z.string());

/** One run of the rules, as the hub records it (hub_settings) and `hub retention show` reads it back. */
export const retentionRunSummarySchema = z.object({
  /** When the run happened (the real time). */
  ranAtMs: count,
  /** The time the rules were applied at: the real time, or `--now`. */
  nowMs: count,
  actor: z.string(),
  /** The periods in force, as people write them ("3d", "60d", "5y"). */
  rules: z.record(z.enum(retentionRules), z.string()),
  removed: z.object({
    problemData: z.object({
      files: count,
      bytes: count,
      attachmentIds: ids,
      problemNumbers: ids,
      /** Uploads left unfinished whose partial files went (they resume from byte 0). */
      unfinished: z.object({ uploads: count, bytes: count, attachmentIds: ids }),
    }),
    closedProblems: z.object({ problems: count, reports: count, problemNumbers: ids }),
    inventory: z.object({ reports: count }),
    performance: z.object({ reports: count }),
    heartbeats: z.object({ reports: count }),
  }),
  /** False when problem data files could not be handled in this build (see problemDataPurger). */
  problemDataHandled: z.boolean(),
});

export type RetentionRunSummary = z.infer<typeof retentionRunSummarySchema>;

/** Rows per transaction: a long purge never holds the writer lock for long. */
const problemBatch = 500;
const reportBatch = 5000;
/** At most this many ids are listed in one audit entry; the counts are always complete. */
const maxListed = 1000;

/** The problems the files belonged to, each once. */
function problemNumbersOf(files: readonly RemovedFile[]): string[] {
  return [...new Set(files.flatMap((f) => (f.problemNumber ? [f.problemNumber] : [])))];
}

export function formatPeriod(ms: number): string {
  const day = 86_400_000;
  if (ms % (365 * day) === 0) return `${ms / (365 * day)}y`;
  if (ms % day === 0) return `${ms / day}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

export interface RunRetentionOptions {
  store: HubStore;
  config: Omit<RetentionConfig, 'interval'>;
  /** The time to apply the rules at. */
  nowMs: number;
  /** The real time, for the audit entries. */
  clock: Clock;
  actor: string;
  purgeProblemData: PurgeProblemData | undefined;
}

export async function runRetention(options: RunRetentionOptions): Promise<RetentionRunSummary> {
  const { store, clock, actor } = options;
  const plan = planRetention(options.config, options.nowMs);
  const rules = Object.fromEntries(retentionRules.map((r) => [r, formatPeriod(plan[r].keepMs)])) as Record<
    RetentionRule,
    string
  >;
  const entry = (
    detail: Record<string, unknown>,
    action = 'retention.purge',
  ): Omit<HubAuditEntry, 'seq'> => ({
    atMs: clock.now(),
    actor,
    action,
    stationId: null,
    detail: { asOf: new Date(plan.nowMs).toISOString(), ...detail },
  });
  const summary: RetentionRunSummary = {
    ranAtMs: clock.now(),
    nowMs: plan.nowMs,
    actor,
    rules,
    removed: {
      problemData: {
        files: 0,
        bytes: 0,
        attachmentIds: [],
        problemNumbers: [],
        unfinished: { uploads: 0, bytes: 0, attachmentIds: [] },
      },
      closedProblems: { problems: 0, reports: 0, problemNumbers: [] },
      inventory: { reports: 0 },
      performance: { reports: 0 },
      heartbeats: { reports: 0 },
    },
    problemDataHandled: options.purgeProblemData !== undefined,
  };

  // Files first: they are the big ones, and a problem purged below has had its files purged long before.
  if (options.purgeProblemData) {
    const { files, unfinished } = await options.purgeProblemData(plan.problemData.cutoffMs);
    if (files.length > 0) {
      const removed = summary.removed.problemData;
      removed.files = files.length;
      removed.bytes = files.reduce((sum, f) => sum + f.bytes, 0);
      removed.attachmentIds = files.map((f) => f.id);
      removed.problemNumbers = problemNumbersOf(files);
      await store.appendAudit(
        entry({
          rule: 'problemData',
          keep: rules.problemData,
          receivedBefore: new Date(plan.problemData.cutoffMs).toISOString(),
          files: removed.files,
          bytes: removed.bytes,
          attachmentIds: removed.attachmentIds.slice(0, maxListed),
          problemNumbers: removed.problemNumbers.slice(0, maxListed),
        }),
      );
    }
    if (unfinished.length > 0) {
      const removed = summary.removed.problemData.unfinished;
      removed.uploads = unfinished.length;
      removed.bytes = unfinished.reduce((sum, f) => sum + f.bytes, 0);
      removed.attachmentIds = unfinished.map((f) => f.id);
      await store.appendAudit(
        entry({
          rule: 'problemData',
          keep: rules.problemData,
          unfinishedUploadsIdleSince: new Date(plan.problemData.cutoffMs).toISOString(),
          uploads: removed.uploads,
          bytes: removed.bytes,
          attachmentIds: removed.attachmentIds.slice(0, maxListed),
          problemNumbers: problemNumbersOf(unfinished).slice(0, maxListed),
          resumesFrom: 0,
        }),
      );
    }
  }

  const closed = summary.removed.closedProblems;
  for (;;) {
    const batch = await store.retention.purgeClosedProblems(plan.closedProblems.cutoffMs, problemBatch, (r) =>
      entry({
        rule: 'closedProblems',
        keep: rules.closedProblems,
        closedBefore: new Date(plan.closedProblems.cutoffMs).toISOString(),
        problems: r.problemNumbers.length,
        reports: r.reports,
        problemNumbers: r.problemNumbers,
      }),
    );
    closed.problems += batch.problemNumbers.length;
    closed.reports += batch.reports;
    closed.problemNumbers.push(...batch.problemNumbers);
    if (batch.problemNumbers.length < problemBatch) break;
  }

  const kinds = { inventory: 'inventory', performance: 'performance', heartbeats: 'heartbeat' } as const;
  for (const [rule, kind] of Object.entries(kinds) as [
    keyof typeof kinds,
    (typeof kinds)[keyof typeof kinds],
  ][]) {
    for (;;) {
      const batch = await store.retention.purgeReports(
        kind,
        plan[rule].cutoffMs,
        { limit: reportBatch, keepLatestPerStation: kind === 'inventory' },
        (r) =>
          entry({
            rule,
            keep: rules[rule],
            receivedBefore: new Date(plan[rule].cutoffMs).toISOString(),
            reports: r.reports,
            ...(kind === 'inventory' ? { kept: 'the latest inventory of each station' } : {}),
          }),
      );
      summary.removed[rule].reports += batch.reports;
      if (batch.reports < reportBatch) break;
    }
  }

  // One entry per run, whatever it removed, so the last run is always on record.
  const listed = {
    ...summary,
    removed: {
      ...summary.removed,
      problemData: {
        ...summary.removed.problemData,
        attachmentIds: summary.removed.problemData.attachmentIds.slice(0, maxListed),
        unfinished: {
          ...summary.removed.problemData.unfinished,
          attachmentIds: summary.removed.problemData.unfinished.attachmentIds.slice(0, maxListed),
        },
      },
      closedProblems: { ...closed, problemNumbers: closed.problemNumbers.slice(0, maxListed) },
    },
  };
  await store.retention.saveLastRun(listed, entry({ rules, removed: listed.removed }, 'retention.run'));
  return listed;
}

/** Applies the rules every interval (and once right after start) in the running hub. */
export class RetentionScheduler {
  readonly #options: Omit<RunRetentionOptions, 'nowMs' | 'actor'> & {
    intervalMs: number;
    logger: Logger;
    nodeId: string;
  };
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(
    options: Omit<RunRetentionOptions, 'nowMs' | 'actor'> & {
      intervalMs: number;
      logger: Logger;
      nodeId: string;
    },
  ) {
    this.#options = options;
  }

  start(): void {
    if (this.#closed || this.#timer) return;
    this.#schedule(1000);
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#running = this.#runIfMyTurn().then(() => {
        this.#running = undefined;
        if (!this.#closed) this.#schedule(this.#options.intervalMs);
      });
    }, delayMs);
    this.#timer.unref();
  }

  /**
   * A scheduled run: in a cluster, only the node that takes this interval's turn runs it (the
   * turn ends a little before the interval, so the first node to look after that takes the next).
   */
  async #runIfMyTurn(): Promise<void> {
    const { store, clock, logger, nodeId, intervalMs } = this.#options;
    const mine = await store.cluster
      .takeTurn('retention', nodeId, clock.now(), Math.floor(intervalMs * 0.9))
      .catch((err: unknown) => {
        logger.warn({ err }, 'could not take the turn at retention');
        return false;
      });
    if (mine) await this.runOnce();
  }

  /** One run now; a failure is logged and the next run tries again. */
  async runOnce(): Promise<RetentionRunSummary | undefined> {
    const { logger, clock } = this.#options;
    try {
      const summary = await runRetention({ ...this.#options, nowMs: clock.now(), actor: 'hub' });
      logger.info({ retention: summary.removed }, 'retention run');
      return summary;
    } catch (err) {
      logger.error({ err }, 'retention run failed');
      return undefined;
    }
  }

  /** Stops the schedule and waits for a run in progress to commit. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}

/** How this hub purges problem data files: those in its blob store, kept by the attachment store. */
export function problemDataPurger(store: HubStore, blobs: BlobStore): PurgeProblemData {
  return async (cutoffMs) => ({
    files: await purgeAttachmentsReceivedBefore({ store, blobs, cutoffMs }),
    unfinished: await discardUnfinishedUploadsIdleSince({ store, blobs, cutoffMs }),
  });
}

/** The running hub's retention: hub.yaml `retention:` applied every interval, from a second after start. */
export function startRetention(options: {
  store: HubStore;
  config: RetentionConfig;
  clock: Clock;
  logger: Logger;
  /** Where problem data files lie. */
  blobs: BlobStore;
  /** This hub node: of a cluster's nodes, one runs retention per interval. */
  nodeId: string;
}): RetentionScheduler {
  const { store, clock, logger, nodeId } = options;
  const { interval, ...rules } = options.config;
  const scheduler = new RetentionScheduler({
    store,
    config: rules,
    clock,
    logger,
    intervalMs: interval,
    nodeId,
    purgeProblemData: problemDataPurger(store, options.blobs),
  });
  scheduler.start();
  return scheduler;
}
