// What retention removes from the store, and the counters that must outlive what it removes: the
// vendor's problem numbers come from a counter, so a number is never given twice even after the
// newest problem has been purged. Each purge is written with its audit entry in one transaction:
// nothing disappears without a record of it.

import type { HubAuditEntry } from './hub-store.js';

/** Report kinds that age out on their own; problem reports go with their problem. */
export type AgingReportKind = 'inventory' | 'performance' | 'heartbeat';

/** The audit entry of what a purge removed, if any, written in the purge's transaction. */
export type PurgeAudit<T> = (removed: T) => Omit<HubAuditEntry, 'seq'> | undefined;

export interface HubRetentionStore {
  /**
   * Removes up to `limit` problems closed before cutoffMs, with their reports and data requests,
   * and the audit entry `audit` makes of them, in one transaction. Open problems are never
   * touched. Returns what was removed; call again until it returns no problem.
   */
  purgeClosedProblems(
    cutoffMs: number,
    limit: number,
    audit?: PurgeAudit<{ problemNumbers: string[]; reports: number }>,
  ): Promise<{ problemNumbers: string[]; reports: number }>;
  /**
   * Removes up to `limit` reports of one kind received before cutoffMs, with the audit entry, in
   * one transaction. With keepLatestPerStation, each station's newest report of the kind stays
   * however old it is (the last known inventory of a station is never lost).
   */
  purgeReports(
    kind: AgingReportKind,
    cutoffMs: number,
    options: { limit: number; keepLatestPerStation?: boolean },
    audit?: PurgeAudit<{ reports: number }>,
  ): Promise<{ reports: number }>;
  /**
   * Keeps the summary of a retention run (as JSON), with its audit entry, for `retention show` and
   * the console.
   */
  saveLastRun(summary: object, audit?: Omit<HubAuditEntry, 'seq'>): Promise<void>;
  /** The summary saved last, as JSON gives it back; undefined before the first run. */
  lastRun(): Promise<unknown>;
}
