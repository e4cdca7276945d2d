// What the contract's tests are made of: a fresh store per test, records and reports to put in it.

import { afterEach, beforeEach } from 'node:test';
import type { ReportEnvelope } from '../../../protocol/index.js';
import type { HubStore, StationRecord, UserRecord } from '../hub-store.js';
import type { IngestItem } from '../reports.js';

/** Opens a new, empty store; the contract closes it after each test. */
export type OpenHubStore = () => Promise<HubStore>;

// Realistic epoch milliseconds: beyond 32 bits, as a PostgreSQL bigint must hold them.
export const t0 = 1_750_000_000_000;
export const minuteMs = 60_000;
export const dayMs = 86_400_000;

/** A fresh store for each test of the enclosing describe; call inside describe. */
export function useStore(open: OpenHubStore): () => HubStore {
  let store: HubStore | undefined;
  beforeEach(async () => {
    store = await open();
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });
  return () => {
    if (!store) throw new Error('no store outside a test');
    return store;
  };
}

export function station(id: string, overrides: Partial<StationRecord> = {}): StationRecord {
  return {
    id,
    name: `appliance ${id}`,
    enrolledAtMs: t0,
    certNotAfterMs: t0 + 365 * dayMs,
    lastSeenAtMs: null,
    connectedSinceMs: null,
    revokedAtMs: null,
    ...overrides,
  };
}

export function user(name: string, groups: string[], overrides: Partial<UserRecord> = {}): UserRecord {
  return {
    name,
    passwordHash: `scrypt$${name}$hash`,
    groups,
    createdAtMs: t0,
    disabledAtMs: null,
    ...overrides,
  };
}

let reports = 0;

/** A report envelope with an id of its own. */
export function envelope(
  kind: ReportEnvelope['kind'],
  payload: Record<string, unknown>,
  createdAtMs = t0,
): ReportEnvelope {
  reports += 1;
  return { id: reports.toString(16).padStart(32, '0'), kind, createdAtMs, orderKey: null, payload };
}

/** A report as ingest takes it: the body is the envelope's JSON. */
export function item(report: ReportEnvelope, sha256 = `sha-${report.id}`): IngestItem {
  return { envelope: report, body: JSON.stringify(report), sha256 };
}

export const problemOpen = (localId: string, summary = 'Fan failed') =>
  envelope('problem.open', {
    localId,
    summary,
    severity: 'major',
    occurredAtMs: t0,
    system: { serial: 'SN-1' },
  });

/** Opens a problem of the station; returns its number. */
export async function openProblem(
  store: HubStore,
  stationId: string,
  localId: string,
  atMs = t0,
): Promise<string> {
  const report = problemOpen(localId);
  const answer = await store.reports.ingest(stationId, report, JSON.stringify(report), 'h', atMs);
  if (!answer.problemNumber) throw new Error(`problem ${localId} was not opened`);
  return answer.problemNumber;
}

/**
 * Which of the station's reports (not problem reports) the store still holds, by the promise every
 * implementation makes about a report id: one it holds is answered as a duplicate. A report it no
 * longer holds is stored again by asking, so ask last.
 */
export async function held(
  store: HubStore,
  stationId: string,
  reports: readonly ReportEnvelope[],
  nowMs: number,
): Promise<boolean[]> {
  const answers = await store.reports.ingestMany(
    stationId,
    reports.map((r) => item(r)),
    nowMs,
  );
  return answers.map((answer) => {
    if (answer instanceof Error) throw answer;
    return answer.duplicate;
  });
}
