// The hub database as the migrations leave it (migrations.ts): every table once. Every query is
// typed by this one interface, so a column renamed here fails to compile wherever it is used; the
// migration test checks that a migrated database has exactly these tables and columns.
// Times are bigint milliseconds since the epoch (read back as numbers).

import type { Generated } from 'kysely';
import type { HubAttachmentState } from '../attachments.js';
import type { DataRequestState } from '../data-requests.js';

export interface HubDatabase {
  stations: {
    id: string;
    name: string;
    enrolled_at: number;
    cert_not_after: number;
    last_seen_at: number | null;
    connected_since: number | null;
    revoked_at: number | null;
    /** The hub node holding the station's tunnel while connected_since is set. */
    connected_node: string | null;
  };
  enrollment_tokens: {
    id: string;
    created_at: number;
    expires_at: number;
    used_at: number | null;
    used_by_station: string | null;
  };
  users: { name: string; password_hash: string; created_at: number; disabled_at: number | null };
  user_groups: { user_name: string; group_name: string };
  api_tokens: {
    id: string;
    user_name: string;
    created_at: number;
    expires_at: number;
    revoked_at: number | null;
    /** How the login was checked, space-separated ('pwd', 'pwd otp'); 'pwd' for older tokens. */
    amr: Generated<string>;
  };
  user_totp: { user_name: string; secret: string; enrolled_at: number; last_step: number | null };
  hub_audit: {
    seq: Generated<number>;
    at: number;
    actor: string;
    action: string;
    station_id: string | null;
    /** JSON. */
    detail: string;
  };
  service_sessions: {
    id: string;
    station_id: string;
    user_name: string;
    service: string;
    reason: string | null;
    started_at: number;
    ended_at: number | null;
    end_reason: string | null;
    bytes_to_station: number;
    bytes_from_station: number;
  };
  audit_checkpoints: {
    station_id: string;
    count: number;
    head_hash: string;
    previous_count: number;
    previous_hash: string;
    at: number;
    signature: string;
    received_at: number;
  };
  reports: {
    id: string;
    station_id: string;
    kind: string;
    created_at: number;
    received_at: number;
    order_key: string | null;
    /** The bytes received, as text. */
    body: string;
    sha256: string;
    problem_number: string | null;
  };
  problems: {
    number: string;
    seq: number;
    station_id: string;
    local_id: string;
    summary: string;
    severity: string;
    reference_code: string | null;
    system_serial: string | null;
    state: string;
    opened_at: number;
    updated_at: number;
    closed_at: number | null;
  };
  /** Named counters that outlive what retention removes (problem numbers). */
  counters: { name: string; value: number };
  hub_settings: { key: string; value: string };
  data_requests: {
    id: string;
    problem_number: string;
    station_id: string;
    note: string;
    requested_by: string;
    requested_at: number;
    state: DataRequestState;
    fetched_at: number | null;
    answer_note: string | null;
    answered_at: number | null;
    answer_received_at: number | null;
  };
  attachments: {
    id: string;
    station_id: string;
    problem_local_id: string;
    problem_number: string | null;
    name: string;
    bytes: number;
    sha256: string;
    chunk_bytes: number;
    /** Bytes written and synced in order from the start: where the upload resumes. */
    received_bytes: number;
    /** Every chunk byte that arrived, repeats included: what the upload cost on the wire. */
    transferred_bytes: number;
    state: HubAttachmentState;
    created_at: number;
    updated_at: number;
    completed_at: number | null;
    removed_at: number | null;
  };
  station_health: {
    station_id: string;
    last_heartbeat_at: number;
    heartbeat_interval_ms: number;
    last_report_id: string;
    /** JSON: the heartbeat's systems. */
    systems: string;
    silent_since: number | null;
  };
  fixes: {
    name: string;
    version: string;
    file_name: string;
    path: string;
    size: number;
    sha256: string;
    /** JSON list of appliance models; empty: every model. */
    applies_to: string;
    description: string | null;
    published_at: number;
    statement: string;
  };
  station_cert_serials: {
    serial: string;
    station_id: string;
    /** SHA-256 of the issuing CA certificate: a CRL lists only its own CA's certificates. */
    issuer_sha256: string;
    issued_at: number;
    not_after: number;
  };
  /** The one cluster this database holds (singleton = 'cluster'). */
  hub_cluster: {
    singleton: string;
    id: string;
    created_at: number;
    key_check: string;
    files_version: Generated<number>;
  };
  /** Files every node needs, sealed with the cluster key. */
  hub_cluster_files: { name: string; sealed: string; updated_at: number };
  hub_nodes: {
    id: string;
    name: string;
    station_address: string;
    api_url: string;
    started_at: number;
    heartbeat_at: number;
    stopped_at: number | null;
  };
  /** Whose turn a cluster-wide job is, and when the next turn may be taken. */
  hub_turns: { name: string; node_id: string; next_at: number };
}
