// A tunnel that goes silent (the hub frozen, a cable pulled) is detected by the agent's pings:
// its sessions end as tunnel lost and the agent dials again.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CliProcess, Cluster, waitFor } from './harness/cluster.js';
import { startEchoServer, type EchoServer } from './harness/echo-server.js';

describe('tunnel liveness', () => {
  let cluster: Cluster;
  let echo: EchoServer;

  before(async () => {
    echo = await startEchoServer();
    // Short ping timings so that the test sees detection in a second or two, not twenty.
    cluster = await Cluster.start({
      agentYaml: 'tunnel:\n  pingInterval: 1s\n  pingTimeout: 1s\n',
      services: { echo: echo.port },
    });
  });

  after(async () => {
    cluster.hub?.child.kill('SIGCONT');
    await cluster?.close();
    await echo?.close();
  });

  test('a frozen hub is detected within two ping periods; sessions end as tunnel lost', async () => {
    const technician = cluster.track(
      new CliProcess(['connect', cluster.stationId, '--service', 'echo', '--stdio'], cluster.techEnv),
    );
    technician.child.stdin?.write('hello\n');
    await waitFor('the session', () => (technician.stdout.includes('hello') ? true : undefined));

    const frozenAt = Date.now();
    cluster.hub?.child.kill('SIGSTOP');
    const status = await waitFor(
      'the agent to notice',
      async () => {
        const s = await cluster.agentStatus();
        return s.tunnel.state !== 'connected' ? s : undefined;
      },
      5000,
    );
    const detectedMs = Date.now() - frozenAt;
    assert.ok(detectedMs <= 3000, `detected after ${detectedMs} ms`);
    assert.match(status.tunnel.lastError ?? '', /did not answer a ping/);
    assert.equal(status.activeSessions, 0);

    cluster.hub?.child.kill('SIGCONT');
    await cluster.waitForTunnel('connected', 10_000);
    const audit = JSON.parse(
      (await cluster.cli(['agent', 'audit', '--json', '--data', cluster.agentDir])).stdout,
    ) as {
      action: string;
      detail: Record<string, unknown>;
    }[];
    assert.ok(audit.some((e) => e.action === 'session.end' && e.detail.endReason === 'tunnel-lost'));
    technician.child.kill('SIGKILL');
  });
});
