// Call-home reports and the problem tickets they open: every report is stored once, by its id, and
// problem reports open, update and close the vendor's problems.

import type { LifelineError } from '../../common/errors.js';
import type { ReportEnvelope } from '../../protocol/index.js';

export interface ProblemRecord {
  number: string;
  stationId: string;
  localId: string;
  summary: string;
  severity: string;
  referenceCode: string | null;
  systemSerial: string | null;
  state: 'open' | 'closed';
  openedAtMs: number;
  updatedAtMs: number;
  closedAtMs: number | null;
}

/** A stored report as a problem lists it (its body stays in the store). */
export interface StoredReport {
  id: string;
  stationId: string;
  kind: string;
  createdAtMs: number;
  receivedAtMs: number;
  sha256: string;
  problemNumber: string | null;
}

/** One report to store: its envelope, the exact bytes received and their SHA-256. */
export interface IngestItem {
  envelope: ReportEnvelope;
  body: string;
  sha256: string;
}

/** A report stored now, or known before (duplicate), with the problem it belongs to. */
export interface IngestAnswer {
  duplicate: boolean;
  problemNumber?: string;
}

export interface HubReportStore {
  /**
   * Stores a report once: in one transaction, a report id seen before changes nothing (the answer
   * says duplicate, with the same problem number); a new problem report opens, updates or closes
   * its problem, a new heartbeat updates its station's health. A report id of another station is
   * API_BAD_REQUEST; a problem report that does not fit the station's problems is
   * CALLHOME_REPORT_INVALID.
   */
  ingest(
    stationId: string,
    envelope: ReportEnvelope,
    body: string,
    sha256: string,
    nowMs: number,
  ): Promise<IngestAnswer>;
  /**
   * Stores a batch of reports in one transaction, in order, each answered as ingest would. A report
   * the hub refuses (CALLHOME_REPORT_INVALID, another station's id) is refused alone and the others
   * are stored; any other failure (a full disk too) rolls the whole batch back and throws.
   */
  ingestMany(
    stationId: string,
    items: readonly IngestItem[],
    nowMs: number,
  ): Promise<Array<IngestAnswer | LifelineError>>;
  /** Problems, newest first (at most 1000); with open, the open ones only. */
  listProblems(options?: { open?: boolean }): Promise<ProblemRecord[]>;
  /** A problem with its reports in the order received (those of one batch in the batch's order). */
  getProblem(number: string): Promise<{ problem: ProblemRecord; reports: StoredReport[] } | undefined>;
  /** Closes an open problem (support closed it); false when it is unknown or closed already. */
  closeProblem(number: string, nowMs: number): Promise<boolean>;
}
