// Draining a hub node (SIGTERM on `lifeline hub start`), with real processes: hub A and hub B (a
// copy of A's data directory on other ports, as a second node of the same hub), an agent that lists
// A then B. A session running through A keeps flowing while A drains, the agent's tunnel moves to B
// at once, A refuses new session requests with 503 HUB_DRAINING, every call-home report sent
// before and during the drain reaches a hub, and A exits 0 once the session ends. A node whose
// session outlives the drain deadline ends it with `hub-drain-deadline`, and the agent comes back
// to the same address once the node is started again.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { CliProcess, Cluster, freePorts, runCli, waitFor } from './harness/cluster.js';
import { startEchoServer, type EchoServer } from './harness/echo-server.js';

interface TunnelJson {
  state: string;
  endpoint: string | null;
  lastError: string | null;
  lastErrorCode: string | null;
}

async function tunnelOf(cluster: Cluster): Promise<TunnelJson> {
  return (await cluster.agentStatus()).tunnel as unknown as TunnelJson;
}

/** A technician's session to the echo service, open once its first line came back. */
async function openEchoSession(cluster: Cluster, text: string): Promise<CliProcess> {
  const technician = cluster.track(
    new CliProcess(['connect', cluster.stationId, '--service', 'echo', '--stdio'], cluster.techEnv),
  );
  technician.child.stdin?.write(text);
  await waitFor('the session', () => {
    if (technician.child.exitCode !== null) throw new Error(`connect exited: ${technician.stderr}`);
    return technician.stdout.includes(text) ? true : undefined;
  });
  return technician;
}

async function openProblem(cluster: Cluster, summary: string): Promise<void> {
  await cluster.admin('POST', '/v1/problems', { summary, severity: 'minor' });
}

/** The summaries of the problems a hub node's data directory holds. */
async function problemSummaries(cluster: Cluster, hubDir: string): Promise<string[]> {
  const listed = await cluster.cli(['hub', 'problems', '--json', '--data', hubDir]);
  return (JSON.parse(listed.stdout) as { summary: string }[]).map((p) => p.summary);
}

describe('draining a hub node', () => {
  let cluster: Cluster;
  let echo: EchoServer;
  let hubB: CliProcess | undefined;
  let hubBDir: string;
  let stationB = 0;
  const endpointA = () => `127.0.0.1:${cluster.stationPort}`;

  before(async () => {
    echo = await startEchoServer();
    cluster = new Cluster();
    await cluster.initHub();
    appendFileSync(join(cluster.hubDir, 'hub.yaml'), 'drain:\n  deadline: 20s\n');
    await cluster.startHub();
    await cluster.addUser('tech', 'tech-password-1');
    await cluster.enroll();
    await cluster.addService('echo', echo.port);
    // Node B: the same hub (CA, keys, enrolled station) as a copy of A's data, on ports of its own.
    assert.equal(await cluster.stopHub(), 0);
    hubBDir = join(cluster.root, 'hub-b');
    cpSync(cluster.hubDir, hubBDir, { recursive: true });
    const [freeStation = 0, apiB = 0] = await freePorts(2);
    stationB = freeStation;
    const yamlB = join(hubBDir, 'hub.yaml');
    const configB = parseYaml(readFileSync(yamlB, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      yamlB,
      toYaml({ ...configB, listen: `127.0.0.1:${stationB}`, apiListen: `127.0.0.1:${apiB}` }),
    );
    await cluster.startHub();
    hubB = cluster.track(new CliProcess(['hub', 'start', '--data', hubBDir]));
    const yamlPath = join(cluster.agentDir, 'agent.yaml');
    const agentConfig = parseYaml(readFileSync(yamlPath, 'utf8')) as { hub: Record<string, unknown> };
    agentConfig.hub = { ...agentConfig.hub, endpoints: [endpointA(), `127.0.0.1:${stationB}`] };
    writeFileSync(yamlPath, toYaml(agentConfig));
    await cluster.startAgent();
    await cluster.cli(['agent', 'access', 'full', '--data', cluster.agentDir]);
    await cluster.cli(['agent', 'remote', 'on', '--data', cluster.agentDir]);
    await cluster.waitForTunnel();
    assert.equal((await tunnelOf(cluster)).endpoint, endpointA());
    const login = await cluster.login('tech', 'tech-password-1');
    assert.equal(login.code, 0, login.stderr);
  });

  after(async () => {
    await hubB?.stop();
    await cluster?.close();
    await echo?.close();
  });

  test('the session on the drained node flows until it ends; the tunnel moves; no report is lost', async () => {
    const technician = await openEchoSession(cluster, 'before the drain\n');
    for (let n = 1; n <= 3; n++) await openProblem(cluster, `drain report before ${n}`);

    const hubA = cluster.hub;
    assert.ok(hubA);
    hubA.child.kill('SIGTERM');

    // The agent's tunnel goes to the next address at once, saying why in its log.
    await waitFor(
      'the tunnel on node B',
      async () => {
        const tunnel = await tunnelOf(cluster);
        return tunnel.state === 'connected' && tunnel.endpoint === `127.0.0.1:${stationB}`
          ? tunnel
          : undefined;
      },
      10_000,
      100,
    );
    assert.match(
      cluster.agent?.stdout ?? '',
      /the hub is draining: moving the tunnel to the next hub address/,
    );

    // Reports during the drain: call home goes on (to B, or to A while it still answers).
    for (let n = 1; n <= 5; n++) await openProblem(cluster, `drain report during ${n}`);

    // The session through A still flows, and A takes no new one.
    technician.child.stdin?.write('during the drain\n');
    await waitFor('the echo during the drain', () =>
      technician.stdout.includes('during the drain\n') ? true : undefined,
    );
    const refused = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      env: cluster.techEnv,
      input: 'refused\n',
    });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /HUB_DRAINING|draining/);
    assert.equal(hubA.child.exitCode, null, 'node A waits for its running session');
    assert.match(hubA.stdout, /hub draining/);

    // The session ends: A stops, cleanly.
    technician.child.stdin?.end();
    assert.equal(await technician.exited, 0, technician.stderr);
    assert.equal(technician.stdout, 'before the drain\nduring the drain\n');
    assert.equal(await hubA.exited, 0, hubA.stderr);
    assert.match(hubA.stdout, /hub drained: no session running/);
    cluster.hub = undefined;

    // Every report reached node A or node B, none twice... and none lost.
    await waitFor(
      'the outbox to empty',
      async () => {
        const outbox = (await cluster.admin('GET', '/v1/outbox')) as { status: { pending: number } };
        return outbox.status.pending === 0 ? true : undefined;
      },
      20_000,
      200,
    );
    const stored = new Set([
      ...(await problemSummaries(cluster, cluster.hubDir)),
      ...(await problemSummaries(cluster, hubBDir)),
    ]);
    const sent = [1, 2, 3].map((n) => `drain report before ${n}`);
    sent.push(...[1, 2, 3, 4, 5].map((n) => `drain report during ${n}`));
    assert.deepEqual(
      sent.filter((summary) => !stored.has(summary)),
      [],
      'every report is stored on a node',
    );
    // The tunnel stayed on B all along.
    assert.equal((await tunnelOf(cluster)).endpoint, `127.0.0.1:${stationB}`);
  });
});

describe('a drain deadline', () => {
  let cluster: Cluster;
  let echo: EchoServer;

  before(async () => {
    echo = await startEchoServer();
    cluster = await Cluster.start({ hubYaml: 'drain:\n  deadline: 2s\n' });
    await cluster.addService('echo', echo.port);
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
  });

  test('a session still running at the deadline ends with the reason; the agent comes back to the same address', async () => {
    const technician = await openEchoSession(cluster, 'before the drain\n');
    const hub = cluster.hub;
    assert.ok(hub);
    hub.child.kill('SIGTERM');
    // The one address: the agent waits for the hint, then finds the node gone until it is back.
    assert.equal(await technician.exited, 1);
    assert.match(technician.stderr, /drain deadline passed/);
    assert.equal(await hub.exited, 0, hub.stderr);
    assert.match(hub.stdout, /hub drain deadline passed: ending the sessions still running/);
    cluster.hub = undefined;
    const audit = JSON.parse(
      (await cluster.cli(['hub', 'audit', '--json', '--data', cluster.hubDir])).stdout,
    ) as {
      action: string;
      detail: Record<string, unknown>;
    }[];
    assert.ok(audit.some((e) => e.action === 'session.end' && e.detail.endReason === 'hub-drain-deadline'));

    await cluster.startHub();
    await cluster.waitForTunnel('connected', 15_000);
    const after = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      env: cluster.techEnv,
      input: 'after the restart\n',
    });
    assert.equal(after.code, 0, after.stderr);
    assert.equal(after.stdout, 'after the restart\n');
  });
});
