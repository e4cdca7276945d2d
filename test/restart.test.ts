// A hub restart drops every session; the agent comes back by itself, quickly, without help. The hub
// drains on SIGTERM (test/drain.test.ts): here with a deadline of 1 s, so a restart is quick.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CliProcess, Cluster, runCli, waitFor } from './harness/cluster.js';
import { startEchoServer, type EchoServer } from './harness/echo-server.js';

async function openEchoSession(cluster: Cluster, text: string): Promise<CliProcess> {
  const technician = cluster.track(
    new CliProcess(['connect', cluster.stationId, '--service', 'echo', '--stdio'], cluster.techEnv),
  );
  technician.child.stdin?.write(text);
  await waitFor('the session', () => (technician.stdout.includes(text) ? true : undefined));
  return technician;
}

async function agentAudit(cluster: Cluster): Promise<{ action: string; detail: Record<string, unknown> }[]> {
  return JSON.parse((await cluster.cli(['agent', 'audit', '--json', '--data', cluster.agentDir])).stdout) as {
    action: string;
    detail: Record<string, unknown>;
  }[];
}

describe('hub restart', () => {
  let cluster: Cluster;
  let echo: EchoServer;

  before(async () => {
    echo = await startEchoServer();
    cluster = await Cluster.start({ hubYaml: 'drain:\n  deadline: 1s\n' });
    await cluster.addService('echo', echo.port);
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
  });

  test('sessions drop, and the agent reconnects within 5 s of the hub being back', async () => {
    const technician = cluster.track(
      new CliProcess(['connect', cluster.stationId, '--service', 'echo', '--stdio'], cluster.techEnv),
    );
    technician.child.stdin?.write('before restart\n');
    await waitFor('the session', () => (technician.stdout.includes('before restart') ? true : undefined));

    const downAt = Date.now();
    assert.equal(await cluster.stopHub(), 0, 'the hub stops cleanly on SIGTERM');
    const technicianExit = await technician.exited;
    assert.equal(technicianExit, 1);
    assert.match(technician.stderr, /session ended: the hub node stopped: its drain deadline passed/);
    await waitFor('the session to end on the agent', async () =>
      (await cluster.agentStatus()).activeSessions === 0 ? true : undefined,
    );

    await cluster.startHub();
    const backAt = Date.now();
    // Its drain (1 s with a session running), its stop and its start.
    assert.ok(backAt - downAt < 6000, `hub was down ${backAt - downAt} ms`);
    await cluster.waitForTunnel('connected', 5000);
    const reconnectMs = Date.now() - backAt;
    assert.ok(reconnectMs <= 5000, `agent reconnected after ${reconnectMs} ms`);

    const stations = await runCli(['stations', '--json'], { env: cluster.techEnv });
    assert.equal(stations.code, 0, stations.stderr);
    const list = JSON.parse(stations.stdout) as { stationId: string; online: boolean }[];
    assert.deepEqual(
      list.map((s) => [s.stationId, s.online]),
      [[cluster.stationId, true]],
    );

    const after = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      env: cluster.techEnv,
      input: 'after restart\n',
    });
    assert.equal(after.code, 0, after.stderr);
    assert.equal(after.stdout, 'after restart\n');

    // The hub ended the session at its drain deadline and says so in its audit; the agent saw its
    // stream cancelled and recorded both sessions' ends.
    const agentEnds = (await agentAudit(cluster)).filter((e) => e.action === 'session.end');
    assert.equal(agentEnds.length, 2);
    const hubAudit = JSON.parse(
      (await cluster.cli(['hub', 'audit', '--json', '--data', cluster.hubDir])).stdout,
    ) as { action: string; detail: Record<string, unknown> }[];
    assert.deepEqual(
      hubAudit.filter((e) => e.action === 'session.end').map((e) => e.detail.endReason),
      ['hub-drain-deadline', 'closed'],
    );
  });

  test('a hub that dies without a word: sessions end as tunnel lost, the agent comes back', async () => {
    const technician = await openEchoSession(cluster, 'before crash\n');
    await cluster.stopHub('SIGKILL');
    assert.equal(await technician.exited, 1);
    await waitFor('the session to end on the agent', async () =>
      (await cluster.agentStatus()).activeSessions === 0 ? true : undefined,
    );
    await cluster.startHub();
    const backAt = Date.now();
    await cluster.waitForTunnel('connected', 5000);
    assert.ok(Date.now() - backAt <= 5000);
    const audit = await agentAudit(cluster);
    assert.ok(audit.some((e) => e.action === 'session.end' && e.detail.endReason === 'tunnel-lost'));
  });
});
