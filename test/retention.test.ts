// Retention end to end (acceptance 4): `hub retention run --now` four days later removes problem
// data but keeps the report; 61 days after a problem's closure it removes the report; open
// problems and the inventory stay; every purge is in the hub's audit log.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Cluster, runCli, waitFor } from './harness/cluster.js';

const day = 86_400_000;

interface Summary {
  nowMs: number;
  removed: {
    problemData: { files: number; attachmentIds: string[]; problemNumbers: string[] };
    closedProblems: { problems: number; reports: number; problemNumbers: string[] };
    inventory: { reports: number };
  };
}

interface AuditJson {
  action: string;
  actor: string;
  detail: Record<string, unknown>;
}

describe('retention', () => {
  let cluster: Cluster;

  const hubDb = <T>(query: string, ...params: unknown[]): T[] => {
    const db = new Database(join(cluster.hubDir, 'hub.db'), { readonly: true });
    try {
      return db.prepare(query).all(...params) as T[];
    } finally {
      db.close();
    }
  };

  const openProblem = async (summary: string, code: string, attach?: string): Promise<string> => {
    const result = await cluster.cli([
      'agent',
      'problem',
      'open',
      '--summary',
      summary,
      '--severity',
      'minor',
      '--code',
      code,
      ...(attach ? ['--attach', attach] : []),
      '--data',
      cluster.agentDir,
    ]);
    assert.match(result.stdout, /Problem PB-[0-9A-Z]{6} accepted/);
    // Printed when the hub answered within a few seconds; on a busy machine, looked up at the hub.
    return (
      /Vendor problem number: (P-\d{6})/.exec(result.stdout)?.[1] ??
      (await waitFor(`problem "${summary}" at the hub`, async () => {
        const problems = JSON.parse(
          (await cluster.cli(['hub', 'problems', '--json', '--data', cluster.hubDir])).stdout,
        ) as { number: string; summary: string }[];
        return problems.find((p) => p.summary === summary)?.number;
      }))
    );
  };

  const retentionRun = async (now: string): Promise<Summary> =>
    JSON.parse(
      (await cluster.cli(['hub', 'retention', 'run', '--now', now, '--json', '--data', cluster.hubDir]))
        .stdout,
    ) as Summary;

  before(async () => {
    cluster = await Cluster.start({ remote: false });
  });

  after(async () => {
    await cluster?.close();
  });

  test('four days on, problem data goes and the report stays; 61 days after closure the problem goes; open problems and inventory stay', async () => {
    const file = join(cluster.root, 'controller.dump');
    writeFileSync(file, randomBytes(256 * 1024));
    const closed = await openProblem('Controller reset', 'RET-1', file);
    const open = await openProblem('Fan noisy', 'RET-2');
    const attachment = await waitFor('the attachment to be complete at the hub', () =>
      hubDb<{ id: string; station_id: string }>(
        "select id, station_id from attachments where problem_number = ? and state = 'complete'",
        closed,
      ).at(0),
    );
    const attachmentFile = join(cluster.hubDir, 'attachments', attachment.station_id, attachment.id);
    assert.ok(existsSync(attachmentFile));

    await cluster.cli(['agent', 'inventory', 'send', '--data', cluster.agentDir]);
    await waitFor('an inventory at the hub', () =>
      hubDb<{ n: number }>("select count(*) as n from reports where kind = 'inventory'")[0]?.n
        ? true
        : undefined,
    );
    const inventories = hubDb<{ id: string }>("select id from reports where kind = 'inventory'").map(
      (r) => r.id,
    );

    await cluster.cli(['hub', 'problem', 'close', closed, '--data', cluster.hubDir]);
    const problems = JSON.parse(
      (await cluster.cli(['hub', 'problems', '--json', '--data', cluster.hubDir])).stdout,
    ) as {
      number: string;
      closedAtMs: number | null;
    }[];
    const closedAtMs = problems.find((p) => p.number === closed)?.closedAtMs;
    assert.ok(closedAtMs);

    // Four days on: the file goes, the problem and its reports stay.
    const fourDays = await retentionRun('+4d');
    assert.ok(fourDays.removed.problemData.attachmentIds.includes(attachment.id), JSON.stringify(fourDays));
    assert.ok(fourDays.removed.problemData.problemNumbers.includes(closed));
    assert.equal(fourDays.removed.closedProblems.problems, 0);
    assert.equal(existsSync(attachmentFile), false);
    const shown = JSON.parse(
      (await cluster.cli(['hub', 'problem', 'show', closed, '--data', cluster.hubDir, '--json'])).stdout,
    ) as {
      reports: { kind: string }[];
    };
    assert.ok(shown.reports.some((r) => r.kind === 'problem.open'));
    assert.deepEqual(
      hubDb<{ state: string }>('select state from attachments where id = ?', attachment.id).map(
        (r) => r.state,
      ),
      ['purged'],
    );

    // 60 days after closure the closed problem is still kept...
    const sixty = await retentionRun(new Date(closedAtMs + 60 * day).toISOString());
    assert.equal(sixty.removed.closedProblems.problems, 0);
    // ...61 days after it, it goes with its reports.
    const sixtyOne = await retentionRun(new Date(closedAtMs + 61 * day).toISOString());
    assert.deepEqual(sixtyOne.removed.closedProblems.problemNumbers, [closed]);
    // Its problem.open report (closed on the hub: no close report).
    assert.ok(sixtyOne.removed.closedProblems.reports >= 1);
    const gone = await runCli(['hub', 'problem', 'show', closed, '--data', cluster.hubDir]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /API_NOT_FOUND/);
    assert.equal(
      hubDb<{ n: number }>('select count(*) as n from reports where problem_number = ?', closed)[0]?.n,
      0,
    );

    // The open problem and every inventory report stay.
    const stillOpen = JSON.parse(
      (await cluster.cli(['hub', 'problem', 'show', open, '--data', cluster.hubDir, '--json'])).stdout,
    ) as {
      problem: { state: string };
    };
    assert.equal(stillOpen.problem.state, 'open');
    const left = new Set(
      hubDb<{ id: string }>("select id from reports where kind = 'inventory'").map((r) => r.id),
    );
    for (const id of inventories) assert.ok(left.has(id), `inventory ${id} kept`);

    // Each purge is in the hub's audit log, with what it removed and the rule.
    const audit = JSON.parse(
      (await cluster.cli(['hub', 'audit', '--json', '--data', cluster.hubDir])).stdout,
    ) as AuditJson[];
    const purges = audit.filter((e) => e.action === 'retention.purge');
    const dataPurge = purges.find((e) => e.detail.rule === 'problemData');
    assert.ok((dataPurge?.detail.attachmentIds as string[]).includes(attachment.id));
    assert.equal(dataPurge?.detail.keep, '3d');
    const problemPurge = purges.find((e) => e.detail.rule === 'closedProblems');
    assert.deepEqual(problemPurge?.detail.problemNumbers, [closed]);
    assert.equal(problemPurge?.actor, 'operator@cli');
    const runs = audit.filter((e) => e.action === 'retention.run' && e.actor === 'operator@cli');
    assert.equal(runs.length, 3);

    // The last run is kept for the console and `retention show`.
    const show = JSON.parse(
      (await cluster.cli(['hub', 'retention', 'show', '--json', '--data', cluster.hubDir])).stdout,
    ) as {
      rules: Record<string, string>;
      lastRun: { nowMs: number } | null;
    };
    assert.deepEqual(show.rules, {
      problemData: '3d',
      closedProblems: '60d',
      inventory: '5y',
      performance: '5y',
      heartbeats: '5y',
    });
    assert.equal(show.lastRun?.nowMs, closedAtMs + 61 * day);

    // A new problem gets the next number: the purged one is never given again.
    const next = await openProblem('Disk slow', 'RET-3');
    assert.ok(Number(next.slice(2)) > Number(open.slice(2)) && next !== closed);
  });
});
