// The contract of support's requests for more error data: made on open problems, fetched by their
// station only, answered once.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { envelope, openProblem, t0, useStore, type OpenHubStore } from './fixtures.js';

export function describeDataRequests(open: OpenHubStore): void {
  describe('data requests', () => {
    const store = useStore(open);
    const requests = () => store().dataRequests;

    test('a request on an open problem is audited with it, fetched by its station only, answered once', async () => {
      const problemNumber = await openProblem(store(), 'ST-A', 'PB-AAAAAA');
      await openProblem(store(), 'ST-B', 'PB-BBBBBB');
      const request = await requests().create(
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
      assert.deepEqual(
        [request.stationId, request.state, request.requestedAtMs, request.fetchedAtMs],
        ['ST-A', 'open', t0, null],
      );
      assert.deepEqual((await store().listAudit()).at(-1)?.detail, { requestId: request.id });

      assert.deepEqual(await requests().fetchOpenForStation('ST-B', t0), []);
      const fetched = await requests().fetchOpenForStation('ST-A', t0 + 5);
      assert.deepEqual(fetched, [
        {
          id: request.id,
          problemNumber,
          localId: 'PB-AAAAAA',
          note: 'the dump of controller 2',
          requestedAtMs: t0,
        },
      ]);
      await requests().fetchOpenForStation('ST-A', t0 + 9);
      assert.equal(
        (await requests().listForProblem(problemNumber))[0]?.fetchedAtMs,
        t0 + 5,
        'first fetch kept',
      );

      const decline = { state: 'declined', note: null, answeredAtMs: t0, nowMs: t0 } as const;
      await assert.rejects(requests().answer('ST-B', request.id, decline), { code: 'API_NOT_FOUND' });
      const first = await requests().answer(
        'ST-A',
        request.id,
        { state: 'declined', note: 'contains customer data', answeredAtMs: t0 + 10, nowMs: t0 + 20 },
        (r) => ({
          atMs: t0 + 20,
          actor: 'station:ST-A',
          action: 'data.declined',
          stationId: 'ST-A',
          detail: { requestId: r.id },
        }),
      );
      assert.deepEqual([first.duplicate, first.request.state], [false, 'declined']);
      // The agent sends again after a lost reply: nothing changes, nothing is audited.
      const again = await requests().answer(
        'ST-A',
        request.id,
        { state: 'answered', note: null, answeredAtMs: t0 + 30, nowMs: t0 + 40 },
        () => ({
          atMs: t0 + 40,
          actor: 'station:ST-A',
          action: 'data.answered',
          stationId: 'ST-A',
          detail: {},
        }),
      );
      assert.deepEqual([again.duplicate, again.request.state], [true, 'declined']);
      const [listed] = await requests().listForProblem(problemNumber);
      assert.deepEqual(
        [listed?.state, listed?.answerNote, listed?.answeredAtMs, listed?.answerReceivedAtMs],
        ['declined', 'contains customer data', t0 + 10, t0 + 20],
      );
      assert.deepEqual(
        (await store().listAudit()).map((e) => e.action),
        ['data.requested', 'data.declined'],
      );
      assert.deepEqual(await requests().fetchOpenForStation('ST-A', t0 + 50), []);
    });

    test('no request for an unknown or a closed problem', async () => {
      const create = (problemNumber: string) =>
        requests().create({ problemNumber, note: 'x', requestedBy: 's', nowMs: t0 });
      await assert.rejects(create('P-999999'), { code: 'API_NOT_FOUND' });
      const problemNumber = await openProblem(store(), 'ST-A', 'PB-CCCCCC');
      const close = envelope('problem.close', { localId: 'PB-CCCCCC' });
      await store().reports.ingest('ST-A', close, '{}', 'h', t0);
      await assert.rejects(create(problemNumber), { code: 'API_BAD_REQUEST', message: /closed/ });
      assert.deepEqual(await requests().listForProblem(problemNumber), []);
    });

    test("once its problem is closed, an open request is no longer fetched; a problem's requests are listed oldest first", async () => {
      const problemNumber = await openProblem(store(), 'ST-A', 'PB-DDDDDD');
      const make = (nowMs: number) =>
        requests().create({ problemNumber, note: `at ${nowMs}`, requestedBy: 's', nowMs });
      const second = await make(t0 + 2);
      const first = await make(t0 + 1);
      assert.deepEqual(
        (await requests().listForProblem(problemNumber)).map((r) => r.id),
        [first.id, second.id],
      );
      assert.deepEqual(
        (await requests().fetchOpenForStation('ST-A', t0 + 3)).map((r) => r.id),
        [first.id, second.id],
      );
      await store().reports.closeProblem(problemNumber, t0 + 4);
      assert.deepEqual(await requests().fetchOpenForStation('ST-A', t0 + 5), []);
    });
  });
}
