// Extended error data: one record per uploaded file, linked to its problem, with how many bytes
// arrived in order (the resume point) and whether the whole file was verified. The files themselves
// live beside the store (src/hub/attachments/attachment-files.ts).

import type { AttachmentStart } from '../../protocol/index.js';

/** receiving: chunks arrive; complete: verified whole; deleted by support; purged by retention. */
export type HubAttachmentState = 'receiving' | 'complete' | 'deleted' | 'purged';

export interface HubAttachment {
  id: string;
  stationId: string;
  problemLocalId: string;
  problemNumber: string | null;
  name: string;
  bytes: number;
  sha256: string;
  chunkBytes: number;
  /** Bytes written and synced in order from the start: where the upload resumes. */
  receivedBytes: number;
  /** Every chunk byte that arrived, repeats included: what the upload cost on the wire. */
  transferredBytes: number;
  state: HubAttachmentState;
  createdAtMs: number;
  updatedAtMs: number;
  completedAtMs: number | null;
  removedAtMs: number | null;
}

/** What a station has of unfinished uploads, for its share (hub.yaml shares.perStation). */
export interface PendingUploads {
  uploads: number;
  /** Their announced sizes. */
  bytes: number;
}

/** How a new upload is admitted beside the station's unfinished ones (see start). */
export interface UploadAdmission {
  /**
   * An unfinished upload counts while it holds received bytes, or, holding none (never sent, or
   * discarded by retention), if it started at or after this time.
   */
  countSinceMs: number;
  /** Throws to refuse the new upload, given what the station has unfinished already. */
  check: (pending: PendingUploads) => void;
}

export interface HubAttachmentStore {
  /**
   * Starts an upload, or returns the one with this id: the same fields give its current state, other
   * fields (or another station) are CALLHOME_ATTACHMENT_CONFLICT. A problem the hub has not received
   * yet is CALLHOME_ATTACHMENT_PROBLEM_UNKNOWN, so the agent retries after its problem.open arrived.
   * A new upload is first checked with `admission` against the station's unfinished ones, in the
   * same transaction (a refusal stores nothing); a known one is never refused (it resumes).
   */
  start(
    stationId: string,
    fields: AttachmentStart,
    nowMs: number,
    admission?: UploadAdmission,
  ): Promise<{ attachment: HubAttachment; created: boolean }>;
  get(id: string): Promise<HubAttachment | undefined>;
  /**
   * Records a chunk that was written and synced at `fromBytes`: the resume point moves to `toBytes`
   * only if it still is `fromBytes` and the upload is receiving (two copies of one chunk cannot both
   * advance it). Returns the state after, and whether this call moved it.
   */
  advance(
    id: string,
    fromBytes: number,
    toBytes: number,
    nowMs: number,
  ): Promise<{ attachment: HubAttachment; advanced: boolean }>;
  /** Counts a chunk that arrived again (nothing was written): the cost of resending. */
  countRepeat(id: string, bytes: number, nowMs: number): Promise<void>;
  /** The whole file matched its SHA-256. */
  markComplete(id: string, nowMs: number): Promise<HubAttachment | undefined>;
  /** The whole file did not match: everything received is discarded and the upload starts over. */
  restart(id: string, nowMs: number): Promise<void>;
  /** The file is gone (support deleted it, or retention purged it); the record stays. */
  markRemoved(id: string, state: 'deleted' | 'purged', nowMs: number): Promise<void>;
  /** A problem's uploads, oldest first. */
  listForProblem(problemNumber: string): Promise<HubAttachment[]>;
  /**
   * Uploads still receiving that nothing has touched since before `cutoffMs` (no chunk, no start),
   * oldest first: their partial files are what retention removes of unfinished uploads.
   */
  listReceivingIdleSince(cutoffMs: number, limit?: number): Promise<HubAttachment[]>;
  /**
   * An unfinished upload's bytes are dropped: it resumes from the start if its station comes back.
   * Only while it is still receiving and untouched since before `cutoffMs` (a chunk that arrived
   * meanwhile wins); returns whether it was dropped.
   */
  discardUnfinished(id: string, cutoffMs: number, nowMs: number): Promise<boolean>;
  /** Complete uploads verified before `cutoffMs`, oldest first: what retention removes. */
  listCompleteBefore(cutoffMs: number, limit?: number): Promise<HubAttachment[]>;
}
