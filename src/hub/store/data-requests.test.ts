import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReportEnvelope } from '../../protocol/index.js';
import { openSqliteHubStore } from './sqlite-hub-store.js';
import { type HubStore } from './hub-store.js';

const t0 = Date.UTC(2026, 2, 1);
let counter = 0;

async function withStore(work: (store: HubStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-hub-datareq-'));
  const store = await openSqliteHubStore(join(dir, 'hub.db'));
  try {
    await work(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function report(store: HubStore, station: string, kind: ReportEnvelope['kind'], payload: object) {
  counter += 1;
  const envelope: ReportEnvelope = {
    id: counter.toString(16).padStart(32, '0'),
    kind,
    createdAtMs: t0,
    orderKey: null,
    payload: payload as Record<string, unknown>,
  };
  return store.reports.ingest(station, envelope, JSON.stringify(envelope), 'h', t0);
}

const open = (store: HubStore, station: string, localId: string) =>
  report(store, station, 'problem.open', { localId, summary: 'Disk', severity: 'minor', occurredAtMs: t0 });

test('a request on an open problem is audited with it, fetched by its station only, answered once', async () => {
  await withStore(async (store) => {
    const { problemNumber = '' } = await open(store, 'ST-A', 'PB-AAAAAA');
    await open(store, 'ST-B', 'PB-BBBBBB');
    const request = await store.dataRequests.create(
      { problemNumber, note: 'the dump of controller 2', requestedBy: 'support@cli', nowMs: t0 },
      (r) => ({
        atMs: t0,
        actor: 'support@cli',
        action: 'data.requested',
        stationId: r.stationId,
        detail: { requestId: r.id },
      }),
    );
    assert.match(request.id, /^DR-[0-9A-Z]{8}$/);
    assert.equal(request.stationId, 'ST-A');
    assert.equal(request.state, 'open');
    const audit = await store.listAudit();
    assert.deepEqual(audit.at(-1)?.detail, { requestId: request.id });

    assert.deepEqual(await store.dataRequests.fetchOpenForStation('ST-B', t0), []);
    const fetched = await store.dataRequests.fetchOpenForStation('ST-A', t0 + 5);
    assert.deepEqual(fetched, [
      {
        id: request.id,
        problemNumber,
        localId: 'PB-AAAAAA',
        note: 'the dump of controller 2',
        requestedAtMs: t0,
      },
    ]);
    await store.dataRequests.fetchOpenForStation('ST-A', t0 + 9);
    assert.equal((await store.dataRequests.get(request.id))?.fetchedAtMs, t0 + 5);

    await assert.rejects(
      store.dataRequests.answer('ST-B', request.id, {
        state: 'declined',
        note: null,
        answeredAtMs: t0,
        nowMs: t0,
      }),
      { code: 'API_NOT_FOUND' },
    );
    const first = await store.dataRequests.answer('ST-A', request.id, {
      state: 'declined',
      note: 'contains customer data',
      answeredAtMs: t0 + 10,
      nowMs: t0 + 20,
    });
    assert.equal(first.duplicate, false);
    assert.equal(first.request.state, 'declined');
    // The agent sends again after a lost reply: nothing changes.
    const again = await store.dataRequests.answer('ST-A', request.id, {
      state: 'answered',
      note: null,
      answeredAtMs: t0 + 30,
      nowMs: t0 + 40,
    });
    assert.equal(again.duplicate, true);
    const [listed] = await store.dataRequests.listForProblem(problemNumber);
    assert.equal(listed?.state, 'declined');
    assert.equal(listed.answerNote, 'contains customer data');
    assert.equal(listed.answerReceivedAtMs, t0 + 20);
    assert.deepEqual(await store.dataRequests.fetchOpenForStation('ST-A', t0 + 50), []);
  });
});

test('no request for an unknown or a closed problem', async () => {
  await withStore(async (store) => {
    const create = (problemNumber: string) =>
      store.dataRequests.create({ problemNumber, note: 'x', requestedBy: 's', nowMs: t0 });
    await assert.rejects(create('P-999999'), { code: 'API_NOT_FOUND' });
    const { problemNumber = '' } = await open(store, 'ST-A', 'PB-CCCCCC');
    await report(store, 'ST-A', 'problem.close', { localId: 'PB-CCCCCC' });
    await assert.rejects(create(problemNumber), { code: 'API_BAD_REQUEST', message: /closed/ });
  });
});
