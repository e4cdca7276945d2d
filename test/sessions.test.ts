// Service sessions end to end: real hub, agent and technician processes on loopback.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { Cluster, runCli, waitFor } from './harness/cluster.js';
import { startEchoServer, type EchoServer } from './harness/echo-server.js';

async function echoRoundTrip(port: number, text: string): Promise<{ socket: Socket; reply: string }> {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  socket.write(text);
  let reply = '';
  await waitFor('echo reply', () => {
    const chunk = socket.read() as Buffer | null;
    if (chunk) reply += chunk.toString();
    return reply.length >= text.length ? true : undefined;
  });
  return { socket, reply };
}

describe('service sessions', () => {
  let cluster: Cluster;
  let echo: EchoServer;

  before(async () => {
    echo = await startEchoServer();
    cluster = await Cluster.start();
    await cluster.addService('echo', echo.port);
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
  });

  test('connect --stdio carries one session and exits 0 when it closes', async () => {
    const result = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      input: 'hello through the tunnel\n',
      env: cluster.techEnv,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'hello through the tunnel\n');
  });

  test('connect --listen forwards each connection as its own session, audited on the agent', async () => {
    const { port, process } = await cluster.connectListen('echo', ['--reason', 'case 4711']);
    const first = await echoRoundTrip(port, 'one');
    const second = await echoRoundTrip(port, 'two');
    assert.equal(first.reply, 'one');
    assert.equal(second.reply, 'two');
    const sessions = (await cluster.admin('GET', '/v1/sessions')) as {
      active: { technician: string; service: string; reason: string | null }[];
    };
    assert.equal(sessions.active.length, 2);
    assert.ok(
      sessions.active.every(
        (s) => s.technician === 'tech' && s.service === 'echo' && s.reason === 'case 4711',
      ),
    );
    first.socket.destroy();
    second.socket.destroy();
    await waitFor('sessions to end', async () =>
      (await cluster.agentStatus()).activeSessions === 0 ? true : undefined,
    );
    await process.stop();
    const audit = await cluster.cli(['agent', 'audit', '--json', '--data', cluster.agentDir]);
    const entries = JSON.parse(audit.stdout) as { action: string; detail: Record<string, unknown> }[];
    const ends = entries.filter((e) => e.action === 'session.end');
    assert.ok(ends.length >= 2);
    assert.ok(
      ends.every((e) => typeof e.detail.bytesIn === 'number' && typeof e.detail.endReason === 'string'),
    );
  });

  for (const [name, command, action] of [
    ['stop --all', ['agent', 'stop', '--all'], 'session.stop-all'],
    ['access none', ['agent', 'access', 'none'], 'setting.access'],
    ['remote off', ['agent', 'remote', 'off'], 'setting.remote'],
  ] as const) {
    test(`a live session ends within 1 s of ${name}, and the technician is told why`, async () => {
      const technician = cluster.track(
        new (await import('./harness/cluster.js')).CliProcess(
          ['connect', cluster.stationId, '--service', 'echo', '--stdio'],
          cluster.techEnv,
        ),
      );
      try {
        technician.child.stdin?.write('ping\n');
        await waitFor('the session echo', () => (technician.stdout.includes('ping') ? true : undefined));
        const before = Date.now();
        await cluster.cli([...command, '--data', cluster.agentDir]);
        const code = await technician.exited;
        const exitedAtMs = Date.now();
        const elapsedMs = exitedAtMs - (await cluster.agentAuditedAt(action, before));
        assert.ok(elapsedMs < 1000, `the technician was told ${elapsedMs} ms after the agent took ${name}`);
        assert.equal(code, 1);
        assert.match(technician.stderr, /session ended: .*(administrator|turned off|set to none)/);
      } finally {
        // Restore for the next case, whatever happened in this one.
        technician.child.kill();
        await cluster.cli(['agent', 'access', 'full', '--data', cluster.agentDir]);
        await cluster.cli(['agent', 'remote', 'on', '--data', cluster.agentDir]);
        await cluster.waitForTunnel();
      }
    });
  }

  test('with access none or remote service off, a session is refused with the reason', async () => {
    await cluster.cli(['agent', 'access', 'none', '--data', cluster.agentDir]);
    let result = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      env: cluster.techEnv,
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /access to this appliance is set to none \(POLICY_ACCESS_NONE\)/);
    await cluster.cli(['agent', 'access', 'full', '--data', cluster.agentDir]);

    await cluster.cli(['agent', 'remote', 'off', '--data', cluster.agentDir]);
    await cluster.waitForTunnel('disabled');
    result = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      env: cluster.techEnv,
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /STATION_OFFLINE/);
    await cluster.cli(['agent', 'remote', 'on', '--data', cluster.agentDir]);
    await cluster.waitForTunnel();
  });
});
