// The schema of agent.db: every table once, as migrations.ts leaves it. The features' stores query
// it through Kysely<AgentDatabase>, so a column renamed in a migration fails to compile where it
// is used. Column value sets (outbox states, problem states...) are declared here with their table.

import type { Generated } from 'kysely';
import type { AttachmentStepKind, ReportKind } from '../../protocol/index.js';

export const outboxStates = ['pending', 'held', 'sent', 'rejected'] as const;
export type OutboxState = (typeof outboxStates)[number];

/** A report, or one step of an attachment upload (then the row's report id is the attachment id). */
export type TransmissionKind = ReportKind | AttachmentStepKind;

export const problemStates = ['open', 'closed'] as const;
export type ProblemState = (typeof problemStates)[number];

export const attachmentStates = ['staged', 'uploading', 'uploaded', 'failed'] as const;
export type AttachmentUploadState = (typeof attachmentStates)[number];

export type DataRequestState = 'open' | 'answered' | 'declined';

export interface AgentDatabase {
  // 0001-initial: the agent's own state and the audit log.
  settings: { key: string; value: string };
  services: { name: string; host: string; port: number; created_at: number };
  ticket_nonces: { jti: string; expires_at: number };
  audit: {
    seq: number;
    at: number;
    actor: string;
    action: string;
    detail: string;
    prev_hash: string;
    hash: string;
  };
  sessions: {
    id: string;
    technician: string;
    technician_name: string;
    service: string;
    reason: string | null;
    started_at: number;
    ended_at: number | null;
    end_reason: string | null;
    bytes_in: number;
    bytes_out: number;
  };

  // 0002-access-policy (sessions/policy-store.ts).
  acl_rules: {
    id: string;
    effect: string;
    technician: string | null;
    group_name: string | null;
    services: string | null;
    not_before: number | null;
    not_after: number | null;
    note: string | null;
    created_by: string;
    created_at: number;
    from_request: string | null;
  };
  access_requests: {
    id: string;
    technician: string;
    technician_name: string;
    groups: string;
    service: string;
    reason: string | null;
    first_at: number;
    last_at: number;
    attempts: number;
    status: string;
    expires_at: number;
    decided_by: string | null;
    decided_at: number | null;
    note: string | null;
    rule_id: string | null;
  };
  one_time_grants: {
    id: string;
    technician: string | null;
    services: string | null;
    not_after: number;
    created_by: string;
    created_at: number;
    used_at: number | null;
    used_by_session: string | null;
    revoked_at: number | null;
  };
  refusal_counts: { technician: string; count: number; last_at: number; last_code: string };

  // 1001-outbox, 1004-transmission-manifests (callhome/outbox-store.ts).
  outbox: {
    id: string;
    /** Acceptance order; an explicit column because a plain rowid may change on VACUUM. */
    accept_seq: number;
    kind: ReportKind;
    order_key: string | null;
    created_at: number;
    body: string;
    bytes: number;
    sha256: string;
    state: OutboxState;
    attempts: number;
    next_attempt_at: number;
    last_error: string | null;
    sent_at: number | null;
    answer: string | null;
  };
  transmissions: {
    seq: Generated<number>;
    report_id: string;
    at: number;
    kind: TransmissionKind;
    bytes: number;
    sha256: string;
    status: number;
    answer: string;
    /** The manifest the transmission carried, as JSON; null for rows logged without one. */
    manifest: string | null;
  };

  // 1002-attachments, 1003-attachment-chunk-hashes (attachments/attachment-store.ts).
  attachments: {
    id: string;
    problem_local_id: string;
    name: string;
    bytes: number;
    sha256: string;
    chunk_bytes: number;
    acked_bytes: number;
    state: AttachmentUploadState;
    created_at: number;
    updated_at: number;
    uploaded_at: number | null;
    last_error: string | null;
  };
  attachment_chunk_hashes: {
    attachment_id: string;
    /** Each chunk's SHA-256 in hex, in order, run together (64 characters each). */
    sha256s: string;
  };

  // 1003-problems (callhome/problem-store.ts).
  problems: {
    local_id: string;
    summary: string;
    severity: string;
    reference_code: string | null;
    system_serial: string | null;
    system_type: string | null;
    system_model: string | null;
    state: ProblemState;
    opened_at: number;
    updated_at: number;
    closed_at: number | null;
    /** The last time the problem was reported (opened or reported again): the storm window's start. */
    last_reported_at: number;
    occurrences: number;
    vendor_number: string | null;
    /** The outbox report that opened it: its answer carries the vendor number. */
    open_report_id: string;
  };

  // 1005-data-requests (data-requests/data-request-store.ts).
  data_requests: {
    id: string;
    problem_number: string;
    local_id: string;
    note: string;
    requested_at: number;
    received_at: number;
    state: DataRequestState;
    answer_note: string | null;
    answered_by: string | null;
    answered_at: number | null;
    answer_delivered_at: number | null;
  };
}
