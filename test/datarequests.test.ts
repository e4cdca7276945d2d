// Requests for more error data end to end: a support engineer asks on the hub, the appliance learns
// of it on its next call-home poll (it only dials out), its administrator declines with a note, and
// the hub's problem shows the request declined with that note.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, runCli, waitFor } from './harness/cluster.js';

interface AgentRequestJson {
  id: string;
  localId: string;
  problemNumber: string;
  note: string;
  state: string;
  answerDeliveredAtMs: number | null;
}

interface HubProblemJson {
  dataRequests: { id: string; state: string; answerNote: string | null; fetchedAtMs: number | null }[];
}

describe('data requests', () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await Cluster.start({ remote: false, agentYaml: 'callhome:\n  pollInterval: 2s\n' });
  });

  after(async () => {
    await cluster?.close();
  });

  const agentRequests = async (): Promise<AgentRequestJson[]> =>
    JSON.parse(
      (await cluster.cli(['agent', 'data-requests', '--json', '--data', cluster.agentDir])).stdout,
    ) as AgentRequestJson[];

  const hubProblem = async (number: string): Promise<HubProblemJson> =>
    JSON.parse(
      (await cluster.cli(['hub', 'problem', 'show', number, '--data', cluster.hubDir, '--json'])).stdout,
    ) as HubProblemJson;

  test('a request reaches the agent within its poll interval; declined with a note, the hub shows it declined', async () => {
    const opened = await cluster.cli([
      'agent',
      'problem',
      'open',
      '--summary',
      'Backplane errors',
      '--severity',
      'major',
      '--code',
      'DR-1',
      '--data',
      cluster.agentDir,
    ]);
    const localId = /Problem (PB-[0-9A-Z]{6}) accepted/.exec(opened.stdout)?.[1];
    assert.ok(localId, opened.stdout);
    // Printed when the hub answered within a few seconds; on a busy machine, looked up at the hub.
    const number =
      /Vendor problem number: (P-\d{6})/.exec(opened.stdout)?.[1] ??
      (await waitFor('the problem at the hub', async () => {
        const problems = JSON.parse(
          (await cluster.cli(['hub', 'problems', '--json', '--data', cluster.hubDir])).stdout,
        ) as { number: string; localId: string }[];
        return problems.find((p) => p.localId === localId)?.number;
      }));

    const requested = await cluster.cli([
      'hub',
      'data',
      'request',
      number,
      '--note',
      'please attach the backplane trace',
      '--json',
      '--data',
      cluster.hubDir,
    ]);
    const request = JSON.parse(requested.stdout) as { id: string; state: string };
    assert.equal(request.state, 'open');

    // Polled every 2 s: it arrives within a few intervals, though the agent started long before.
    const received = await waitFor(
      'the request at the agent',
      async () => (await agentRequests()).find((r) => r.id === request.id),
      10_000,
      200,
    );
    assert.equal(received.localId, localId);
    assert.equal(received.problemNumber, number);
    assert.equal(received.note, 'please attach the backplane trace');
    assert.equal(received.state, 'open');
    const table = await cluster.cli(['agent', 'data-requests', '--data', cluster.agentDir]);
    assert.match(table.stdout, new RegExp(`${request.id}\\s+${localId}\\s+${number}\\s+open`));
    assert.ok((await hubProblem(number)).dataRequests[0]?.fetchedAtMs);

    await cluster.cli([
      'agent',
      'data-request',
      'decline',
      request.id,
      '--note',
      'the trace holds customer data',
      '--data',
      cluster.agentDir,
    ]);
    const again = await runCli(['agent', 'data-request', 'answer', request.id, '--data', cluster.agentDir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /CALLHOME_DATA_REQUEST_CLOSED/);

    const atHub = await waitFor('the answer at the hub', async () => {
      const [shown] = (await hubProblem(number)).dataRequests;
      return shown?.state === 'declined' ? shown : undefined;
    });
    assert.equal(atHub.id, request.id);
    assert.equal(atHub.answerNote, 'the trace holds customer data');
    // Without --json, the support engineer reads the same ticket as text.
    const text = (await cluster.cli(['hub', 'problem', 'show', number, '--data', cluster.hubDir])).stdout;
    assert.match(text, new RegExp(`^Problem ${number} \\(open\\)$`, 'm'));
    assert.match(text, /^ {2}severity {7}major$/m);
    assert.match(text, /^ {2}reference code {1}DR-1$/m);
    assert.match(text, /^Reports \(1\)\n.*\n\S+ +problem\.open /m);
    assert.match(text, /^Error data \(0\)$/m);
    assert.match(
      text,
      new RegExp(
        `^Requests for more error data \\(1\\)\\n.*\\n${request.id} +declined +.+ by \\S+ +\\S+ ago +please attach the backplane trace +the trace holds customer data$`,
        'm',
      ),
    );
    await waitFor('the agent to see the answer delivered', async () =>
      (await agentRequests()).find((r) => r.id === request.id && r.answerDeliveredAtMs !== null),
    );

    const hubAudit = JSON.parse(
      (await cluster.cli(['hub', 'audit', '--json', '--data', cluster.hubDir])).stdout,
    ) as { action: string; detail: Record<string, unknown> }[];
    assert.ok(hubAudit.some((e) => e.action === 'data.requested' && e.detail.requestId === request.id));
    assert.ok(
      hubAudit.some((e) => e.action === 'data.declined' && e.detail.note === 'the trace holds customer data'),
    );
    const agentAudit = JSON.parse(
      (await cluster.cli(['agent', 'audit', '--json', '--data', cluster.agentDir])).stdout,
    ) as { action: string; detail: Record<string, unknown> }[];
    for (const action of ['datarequest.received', 'datarequest.declined', 'datarequest.answer.delivered']) {
      assert.ok(
        agentAudit.some((e) => e.action === action && e.detail.requestId === request.id),
        action,
      );
    }
  });
});
