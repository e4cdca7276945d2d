import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../src/common/clock.js';
import { LifelineError } from '../src/common/errors.js';
import { createLogger } from '../src/common/logger.js';
import { AgentStore } from '../src/agent/store/index.js';
import { AgentDataRequestStore } from '../src/agent/data-requests/index.js';
import { openSqliteHubStore } from '../src/hub/store/index.js';
import { type HubStore } from '../src/hub/store/index.js';
import { DataRequestDesk, type DataRequestChannel } from '../src/agent/data-requests/index.js';

const t0 = Date.UTC(2026, 4, 1);

/** The hub's side of the two call-home routes, on a real hub store, as station ST-A. */
function hubChannel(hub: HubStore, clock: ManualClock, state: { down: boolean }): DataRequestChannel {
  return {
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      if (state.down) throw new LifelineError('API_UNREACHABLE', 'the hub is not reachable');
      if (method === 'GET' && path === '/v1/data-requests') {
        return { requests: await hub.dataRequests.fetchOpenForStation('ST-A', clock.now()) } as T;
      }
      const match = /^\/v1\/data-requests\/(DR-[0-9A-Z]{8})\/answer$/.exec(path);
      if (method === 'POST' && match?.[1]) {
        const answer = body as { state: 'answered' | 'declined'; note: string | null; answeredAtMs: number };
        const result = await hub.dataRequests.answer('ST-A', match[1], { ...answer, nowMs: clock.now() });
        return { state: result.request.state, duplicate: result.duplicate } as T;
      }
      throw new Error(`unexpected ${method} ${path}`);
    },
  };
}

test('a request reaches the agent once, is declined while the hub is away, and the answer arrives later', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-datareq-'));
  const hub = await openSqliteHubStore(join(dir, 'hub.db'));
  const agentStore = await AgentStore.open(join(dir, 'agent.db'));
  const agent = { dataRequests: new AgentDataRequestStore(agentStore.db) };
  try {
    const clock = new ManualClock(t0);
    const opened = await hub.reports.ingest(
      'ST-A',
      {
        id: 'a'.repeat(32),
        kind: 'problem.open',
        createdAtMs: t0,
        orderKey: 'PB-AAAAAA',
        payload: { localId: 'PB-AAAAAA', summary: 'RAID degraded', severity: 'major', occurredAtMs: t0 },
      },
      '{}',
      'h',
      t0,
    );
    const problemNumber = opened.problemNumber ?? '';
    const request = await hub.dataRequests.create({
      problemNumber,
      note: 'please send the controller log',
      requestedBy: 'support@cli',
      nowMs: t0,
    });
    const audited: { actor: string; action: string; detail: Record<string, unknown> }[] = [];
    const hubState = { down: false };
    const desk = new DataRequestDesk({
      store: agent.dataRequests,
      channel: hubChannel(hub, clock, hubState),
      clock,
      logger: createLogger({ name: 'test', level: 'silent' }),
      record: (actor, action, detail) => Promise.resolve(audited.push({ actor, action, detail })),
      pollIntervalMs: 60_000,
    });

    clock.advance(1000);
    const first = await desk.pollOnce();
    assert.equal(first.received.length, 1);
    assert.deepEqual(
      {
        id: first.received[0]?.id,
        localId: first.received[0]?.localId,
        problemNumber: first.received[0]?.problemNumber,
        state: first.received[0]?.state,
        receivedAtMs: first.received[0]?.receivedAtMs,
      },
      { id: request.id, localId: 'PB-AAAAAA', problemNumber, state: 'open', receivedAtMs: t0 + 1000 },
    );
    assert.deepEqual(
      audited.map((e) => e.action),
      ['datarequest.received'],
    );
    assert.equal((await desk.pollOnce()).received.length, 0);
    assert.equal(audited.length, 1);

    hubState.down = true;
    const declined = await desk.answer(request.id, 'declined', 'contains customer data', 'admin@127.0.0.1');
    assert.equal(declined.state, 'declined');
    assert.equal(audited.at(-1)?.action, 'datarequest.declined');
    await assert.rejects(desk.pollOnce(), { code: 'API_UNREACHABLE' });
    assert.equal((await agent.dataRequests.undelivered()).length, 1);
    await assert.rejects(desk.answer(request.id, 'answered', null, 'admin@127.0.0.1'), {
      code: 'CALLHOME_DATA_REQUEST_CLOSED',
    });

    hubState.down = false;
    clock.advance(60_000);
    assert.equal((await desk.pollOnce()).delivered, 1);
    const [atHub] = await hub.dataRequests.listForProblem(problemNumber);
    assert.equal(atHub?.state, 'declined');
    assert.equal(atHub.answerNote, 'contains customer data');
    assert.equal((await agent.dataRequests.get(request.id))?.answerDeliveredAtMs, t0 + 61_000);
    assert.equal((await desk.pollOnce()).delivered, 0);
    await assert.rejects(desk.answer('DR-00000000', 'answered', null, 'admin'), { code: 'API_NOT_FOUND' });
  } finally {
    await agentStore.close();
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an answer the hub refuses for good (its request is gone) is settled and on record, not retried', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-datareq-'));
  const hub = await openSqliteHubStore(join(dir, 'hub.db'));
  const agentStore = await AgentStore.open(join(dir, 'agent.db'));
  const agent = { dataRequests: new AgentDataRequestStore(agentStore.db) };
  try {
    const clock = new ManualClock(t0);
    await agent.dataRequests.addReceived(
      { id: 'DR-ABCDEFGH', problemNumber: 'P-000009', localId: 'PB-BBBBBB', note: 'logs', requestedAtMs: t0 },
      t0,
    );
    const audited: string[] = [];
    const desk = new DataRequestDesk({
      store: agent.dataRequests,
      channel: hubChannel(hub, clock, { down: false }),
      clock,
      logger: createLogger({ name: 'test', level: 'silent' }),
      record: (_actor, action) => Promise.resolve(audited.push(action)),
      pollIntervalMs: 60_000,
    });
    await desk.answer('DR-ABCDEFGH', 'answered', 'attached', 'admin');
    assert.equal((await desk.pollOnce()).delivered, 0);
    assert.deepEqual(audited, ['datarequest.answered', 'datarequest.answer.refused']);
    assert.deepEqual(await agent.dataRequests.undelivered(), []);
  } finally {
    await agentStore.close();
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
