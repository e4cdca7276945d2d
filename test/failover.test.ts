// Acceptance: with two hub addresses and the first one down, the agent connects to the second
// within 10 s, and returns to the first once it is back (agent.yaml `hub.failbackInterval: 2s`).
// The first address is a TCP forwarder to the same hub, started only later.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { Cluster, freePort, runCli, waitFor } from './harness/cluster.js';
import { startEchoServer, type EchoServer } from './harness/echo-server.js';

interface StatusJson {
  hub: string;
  tunnel: { state: string; endpoint: string | null };
  hubEndpoints: { endpoint: string; state: string; lastError: string | null }[];
}

describe('several hub endpoints', () => {
  let cluster: Cluster;
  let echo: EchoServer;
  let firstPort: number;
  let forwarder: Server | undefined;
  let forwardedBytes = 0;
  const forwardedSockets = new Set<Socket>();

  const status = async (): Promise<StatusJson> =>
    JSON.parse(
      (await cluster.cli(['agent', 'status', '--json', '--data', cluster.agentDir])).stdout,
    ) as StatusJson;

  before(async () => {
    echo = await startEchoServer();
    cluster = new Cluster();
    await cluster.initHub();
    await cluster.startHub();
    await cluster.addUser('tech', 'tech-password-1');
    await cluster.enroll();
    firstPort = await freePort();
    const yamlPath = join(cluster.agentDir, 'agent.yaml');
    const config = parseYaml(readFileSync(yamlPath, 'utf8')) as { hub: { endpoints: string[] } };
    config.hub = {
      ...config.hub,
      endpoints: [`127.0.0.1:${firstPort}`, `127.0.0.1:${cluster.stationPort}`],
      failbackInterval: '2s',
    } as typeof config.hub;
    writeFileSync(yamlPath, toYaml(config));
    await cluster.addService('echo', echo.port);
    await cluster.startAgent();
    await cluster.cli(['agent', 'access', 'full', '--data', cluster.agentDir]);
    const login = await cluster.login('tech', 'tech-password-1');
    assert.equal(login.code, 0, login.stderr);
  });

  after(async () => {
    for (const socket of forwardedSockets) socket.destroy();
    forwarder?.close();
    await cluster?.close();
    await echo?.close();
  });

  test('the first endpoint down: the agent connects to the second within 10 s', async () => {
    const started = Date.now();
    await cluster.cli(['agent', 'remote', 'on', '--data', cluster.agentDir]);
    const connected = await cluster.waitForTunnel('connected', 10_000);
    assert.ok(Date.now() - started < 10_000);
    const now = await status();
    assert.equal(now.tunnel.endpoint, `127.0.0.1:${cluster.stationPort}`);
    assert.equal(now.hub, `127.0.0.1:${cluster.stationPort}`);
    assert.equal(connected.tunnel.state, 'connected');
    const [first, second] = now.hubEndpoints;
    assert.equal(first?.state, 'failed');
    assert.match(first?.lastError ?? '', /connection refused/);
    assert.equal(second?.state, 'in-use');
    const text = (await cluster.cli(['agent', 'status', '--data', cluster.agentDir])).stdout;
    assert.match(text, new RegExp(`1\\. 127\\.0\\.0\\.1:${firstPort}: failed: connection refused`));
    assert.match(text, new RegExp(`2\\. 127\\.0\\.0\\.1:${cluster.stationPort}: in use`));
  });

  test('the first endpoint back: the agent returns to it, and a session runs over it', async () => {
    forwarder = createServer((socket) => {
      forwardedSockets.add(socket);
      socket.on('data', (chunk: Buffer) => (forwardedBytes += chunk.length));
      const upstream = connect({ host: '127.0.0.1', port: cluster.stationPort });
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
      socket.once('close', () => {
        forwardedSockets.delete(socket);
        upstream.destroy();
      });
      upstream.once('close', () => socket.destroy());
      socket.pipe(upstream).pipe(socket);
    });
    const server = forwarder;
    await new Promise<void>((done) => server.listen(firstPort, '127.0.0.1', done));
    const back = Date.now();
    const now = await waitFor(
      'the tunnel back on the first endpoint',
      async () => {
        const s = await status();
        return s.tunnel.state === 'connected' && s.tunnel.endpoint === `127.0.0.1:${firstPort}`
          ? s
          : undefined;
      },
      10_000,
      100,
    );
    // Probed every 2 s: back within a few seconds, not at the next failure.
    assert.ok(Date.now() - back < 8000, `took ${Date.now() - back} ms`);
    assert.equal(now.hub, `127.0.0.1:${firstPort}`);
    assert.deepEqual(
      now.hubEndpoints.map((e) => e.state),
      ['in-use', 'standby'],
    );
    const before = forwardedBytes;
    const session = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      input: 'over the preferred endpoint\n',
      env: cluster.techEnv,
    });
    assert.equal(session.code, 0, session.stderr);
    assert.equal(session.stdout, 'over the preferred endpoint\n');
    // The session rode the tunnel through the first endpoint: its bytes crossed the forwarder.
    assert.ok(
      forwardedBytes - before >= 'over the preferred endpoint\n'.length,
      `${forwardedBytes - before} bytes`,
    );
  });
});
