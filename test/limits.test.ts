// Limits the appliance sets on sessions: inactivity, maximum duration, and failing closed when
// the audit log cannot be written (here: the database is full).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CliProcess, Cluster, runCli, waitFor } from './harness/cluster.js';
import { startEchoServer, type EchoServer } from './harness/echo-server.js';

describe('session limits and failing closed', () => {
  let cluster: Cluster;
  let echo: EchoServer;

  const openSession = async (text: string): Promise<CliProcess> => {
    const technician = cluster.track(
      new CliProcess(['connect', cluster.stationId, '--service', 'echo', '--stdio'], cluster.techEnv),
    );
    technician.child.stdin?.on('error', () => undefined);
    technician.child.stdin?.write(text);
    await waitFor('the session', () => (technician.stdout.includes(text) ? true : undefined));
    return technician;
  };

  before(async () => {
    echo = await startEchoServer();
    cluster = await Cluster.start({
      agentYaml: 'sessions:\n  idleTimeout: 2s\n  maxDuration: 4s\nstore:\n  maxSizeMb: 4\n',
      services: { echo: echo.port },
    });
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
  });

  test('an idle session ends after the inactivity timeout', async () => {
    const technician = await openSession('idle\n');
    assert.equal(await technician.exited, 1);
    assert.match(technician.stderr, /session ended: the session was idle too long/);
  });

  test('a busy session ends at its maximum duration', async () => {
    const technician = await openSession('busy\n');
    const keepBusy = setInterval(() => technician.child.stdin?.write('.'), 300);
    try {
      assert.equal(await technician.exited, 1);
    } finally {
      clearInterval(keepBusy);
    }
    assert.match(technician.stderr, /session ended: the session reached its maximum duration/);
  });

  test('when the audit log cannot be written, live sessions end and none start until it can', async () => {
    const technician = await openSession('before\n');
    const keepBusy = setInterval(() => technician.child.stdin?.write('.'), 300);
    // Fill agent.db past its 4 MiB limit from outside, as a full disk would.
    const db = new Database(join(cluster.agentDir, 'agent.db'));
    db.exec('create table filler (b blob)');
    const insert = db.prepare('insert into filler values (?)');
    for (let i = 0; i < 48; i++) insert.run(Buffer.alloc(100_000));
    db.pragma('wal_checkpoint(TRUNCATE)');

    try {
      // Writes fail once the log needs a new page: change a setting until one is refused.
      let answer: { code: string; message: string } | undefined;
      for (let i = 0; i < 200 && !answer; i++) {
        await cluster.admin('PUT', '/v1/access', { level: 'full' }).catch((err: Error) => {
          answer = {
            code: /"code":"STORE_FULL"/.test(err.message) ? 'STORE_FULL' : 'other',
            message: err.message,
          };
        });
      }
      // agent.db at its size limit is a full store: 507, naming the file and the limit.
      assert.equal(answer?.code, 'STORE_FULL', answer?.message);
      assert.match(answer.message, /HTTP 507 .*the audit log cannot be written/);
      assert.match(
        answer.message,
        /agent\.db reached its size limit of [\d.]+ MiB \(store\.maxSizeMb in agent\.yaml\), with [\d.]+ \S+ free in /,
      );
      assert.equal(await technician.exited, 1);
      assert.match(technician.stderr, /session ended: the appliance cannot write its audit log/);
    } finally {
      clearInterval(keepBusy);
    }
    const refused = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      env: cluster.techEnv,
      input: 'x',
    });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /cannot write its audit log, so no session may start/);

    db.exec('drop table filler');
    db.close();
    const after = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      env: cluster.techEnv,
      input: 'after\n',
    });
    assert.equal(after.code, 0, after.stderr);
    assert.equal(after.stdout, 'after\n');
    const audit = JSON.parse(
      (await cluster.cli(['agent', 'audit', '--json', '--data', cluster.agentDir])).stdout,
    ) as { action: string }[];
    assert.ok(audit.some((e) => e.action === 'audit.resumed'));
    assert.equal((await runCli(['agent', 'audit', '--verify', '--data', cluster.agentDir])).code, 0);
  });
});
