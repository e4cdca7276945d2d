// Call home end to end: a problem opened on the appliance becomes a ticket on the hub, the
// customer sees byte for byte what left, and reports accepted while the hub is away survive an
// agent crash and arrive exactly once.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Cluster, waitFor } from './harness/cluster.js';

interface TransmissionJson {
  reportId: string;
  kind: string;
  status: number;
  answer: string;
  sha256: string;
}

describe('call home', () => {
  let cluster: Cluster;

  const hubDb = () => new Database(join(cluster.hubDir, 'hub.db'), { readonly: true });
  const sent = async (): Promise<TransmissionJson[]> =>
    JSON.parse(
      (await cluster.cli(['agent', 'sent', '--json', '--data', cluster.agentDir])).stdout,
    ) as TransmissionJson[];

  before(async () => {
    cluster = await Cluster.start();
  });

  after(async () => {
    await cluster?.close();
  });

  test('a problem opened on the agent appears on the hub with a problem number; sent --show is byte for byte what the hub stored', async () => {
    const opened = await cluster.cli([
      'agent',
      'problem',
      'open',
      '--summary',
      'Fan 3 failed',
      '--severity',
      'major',
      '--system',
      'SN-1234',
      '--code',
      'E1F3',
      '--data',
      cluster.agentDir,
    ]);
    const localId = /Problem (PB-[0-9A-Z]{6}) accepted \(report ([0-9a-f]{32})\)/.exec(opened.stdout);
    assert.ok(localId?.[1] && localId[2], opened.stdout);
    const reportId = localId[2];
    const transmission = await waitFor('the report to be sent', async () =>
      (await sent()).find((t) => t.reportId === reportId && t.status === 201),
    );
    const answer = JSON.parse(transmission.answer) as { problemNumber: string };
    assert.match(answer.problemNumber, /^P-\d{6}$/);

    const problems = JSON.parse(
      (await cluster.cli(['hub', 'problems', '--json', '--data', cluster.hubDir])).stdout,
    ) as {
      number: string;
      summary: string;
      systemSerial: string;
      stationId: string;
    }[];
    const problem = problems.find((p) => p.number === answer.problemNumber);
    assert.equal(problem?.summary, 'Fan 3 failed');
    assert.equal(problem?.systemSerial, 'SN-1234');
    assert.equal(problem?.stationId, cluster.stationId);

    const shown = (await cluster.cli(['agent', 'sent', '--show', reportId, '--data', cluster.agentDir]))
      .stdout;
    const db = hubDb();
    const stored = db.prepare('select body, sha256 from reports where id = ?').get(reportId) as {
      body: string;
      sha256: string;
    };
    db.close();
    assert.equal(shown, stored.body);
    assert.equal(transmission.sha256, stored.sha256);
  });

  test('1,000 reports accepted while the hub is down survive SIGKILL of the agent and arrive exactly once', async () => {
    await cluster.stopHub();
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const accepted = (await cluster.admin('POST', '/v1/reports', {
        kind: 'generic',
        payload: { n: i, type: 'maintenance' },
      })) as { id: string };
      ids.push(accepted.id);
    }
    await cluster.agent?.stop('SIGKILL');
    cluster.agent = undefined;
    await cluster.startAgent();
    await cluster.startHub();
    await waitFor(
      'the reports at the hub',
      () => {
        const db = hubDb();
        const count = (
          db.prepare("select count(*) as n from reports where kind = 'generic'").get() as { n: number }
        ).n;
        db.close();
        return count >= 1000 ? true : undefined;
      },
      60_000,
      200,
    );
    const db = hubDb();
    const rows = db.prepare("select id from reports where kind = 'generic'").all() as { id: string }[];
    db.close();
    assert.equal(rows.length, 1000);
    assert.deepEqual(new Set(rows.map((r) => r.id)), new Set(ids));
  });

  test('callhome pause holds reports, also across an agent restart; resume sends them', async () => {
    await cluster.cli(['agent', 'callhome', 'pause', '--for', '1h', '--data', cluster.agentDir]);
    const accepted = (await cluster.admin('POST', '/v1/reports', {
      kind: 'generic',
      payload: { type: 'maintenance-statistics', during: 'maintenance' },
    })) as {
      id: string;
    };
    await cluster.stopAgent();
    await cluster.startAgent();
    const outbox = (await cluster.admin('GET', '/v1/outbox')) as {
      status: { pending: number; pausedUntilMs: number | null };
      waiting: { id: string }[];
    };
    assert.ok(outbox.status.pausedUntilMs !== null && outbox.status.pausedUntilMs > Date.now());
    assert.ok(outbox.waiting.some((item) => item.id === accepted.id));
    await cluster.cli(['agent', 'callhome', 'resume', '--data', cluster.agentDir]);
    await waitFor('the held report to be sent', async () =>
      (await sent()).some((t) => t.reportId === accepted.id && t.status === 201) ? true : undefined,
    );
    const audit = JSON.parse(
      (await cluster.cli(['agent', 'audit', '--json', '--data', cluster.agentDir])).stdout,
    ) as {
      action: string;
    }[];
    assert.ok(audit.some((e) => e.action === 'callhome.pause'));
    assert.ok(audit.some((e) => e.action === 'callhome.resume'));
  });
});
