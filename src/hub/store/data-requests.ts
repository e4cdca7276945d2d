// Requests from support engineers for more error data about a problem. The appliance only dials
// out, so a request waits in the store until the station fetches it on its next call-home poll; the
// appliance administrator's answer (sent or declined, with a note) comes back the same way.

import { randomBytes } from 'node:crypto';
import type { HubAuditEntry } from './hub-store.js';

export type DataRequestState = 'open' | 'answered' | 'declined';

export interface HubDataRequest {
  /** DR- and 8 characters of Crockford's base 32 (newDataRequestId). */
  id: string;
  problemNumber: string;
  stationId: string;
  note: string;
  requestedBy: string;
  requestedAtMs: number;
  state: DataRequestState;
  /** When the station first fetched it; null while it has not called home since. */
  fetchedAtMs: number | null;
  /** The appliance administrator's note with the answer. */
  answerNote: string | null;
  answeredAtMs: number | null;
  answerReceivedAtMs: number | null;
}

/** What a station is told of an open request: the problem by the hub's number and its own id. */
export interface StationDataRequest {
  id: string;
  problemNumber: string;
  localId: string;
  note: string;
  requestedAtMs: number;
}

/** The audit entry of a request created or answered, written in the same transaction. */
export type DataRequestAudit = (request: HubDataRequest) => Omit<HubAuditEntry, 'seq'>;

const idAlphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function newDataRequestId(): string {
  let id = '';
  for (const byte of randomBytes(8)) id += idAlphabet.charAt(byte % 32);
  return `DR-${id}`;
}

export interface HubDataRequestStore {
  /**
   * Opens a request on an open problem, with its audit entry in the same transaction. An unknown
   * problem is API_NOT_FOUND, a closed one API_BAD_REQUEST.
   */
  create(
    request: { problemNumber: string; note: string; requestedBy: string; nowMs: number },
    auditFor?: DataRequestAudit,
  ): Promise<HubDataRequest>;
  /**
   * The station's open requests on open problems, oldest first (at most 100), marked fetched the
   * first time.
   */
  fetchOpenForStation(stationId: string, nowMs: number): Promise<StationDataRequest[]>;
  /**
   * Records the station's answer once, with its audit entry. A request answered already is left as
   * it is and returned with duplicate: true (the agent sends again when it missed the hub's reply);
   * a request of another station is API_NOT_FOUND.
   */
  answer(
    stationId: string,
    id: string,
    answer: { state: 'answered' | 'declined'; note: string | null; answeredAtMs: number; nowMs: number },
    auditFor?: DataRequestAudit,
  ): Promise<{ request: HubDataRequest; duplicate: boolean }>;
  /** A problem's requests, oldest first. */
  listForProblem(problemNumber: string): Promise<HubDataRequest[]>;
}
