// Health and Prometheus metrics of a real hub and agent: who may read them, and that they count
// what happened (a refused and an accepted session, the outbox, an upload, the tunnel).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, runCli, waitFor } from './harness/cluster.js';
import { startEchoServer, type EchoServer } from './harness/echo-server.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** The value of one sample in the text exposition, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort();
  for (const line of text.split('\n')) {
    const match = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? '').split(',').filter(Boolean).sort();
    if (have.join(',') === wanted.join(',')) return Number(match[3]);
  }
  return undefined;
}

describe('health and metrics', () => {
  let cluster: Cluster;
  let echo: EchoServer;
  let scrapeToken = '';
  let adminToken = '';

  /** GET on the technician API, trusting the hub's CA as technicians do. */
  const hubGet = async (path: string, headers: Record<string, string> = {}): Promise<Answer> => {
    const answer = await cluster.hubGet(path, headers);
    return { status: answer.status, headers: answer.headers, body: answer.text };
  };
  const hubMetrics = async () => {
    const answer = await hubGet('/metrics', { authorization: `Bearer ${scrapeToken}` });
    assert.equal(answer.status, 200, answer.body);
    return answer.body;
  };
  const agentGet = (path: string, headers: Record<string, string> = {}) =>
    fetch(`http://127.0.0.1:${cluster.adminPort}${path}`, { headers });
  const agentMetrics = async () => {
    const response = await agentGet('/metrics', { authorization: `Bearer ${adminToken}` });
    assert.equal(response.status, 200);
    return response.text();
  };

  before(async () => {
    echo = await startEchoServer();
    cluster = await Cluster.start({ services: { echo: echo.port } });
    scrapeToken = readFileSync(join(cluster.hubDir, 'metrics-token'), 'utf8').trim();
    adminToken = readFileSync(join(cluster.agentDir, 'admin-token'), 'utf8').trim();
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
  });

  test('GET /health answers without a credential on the hub and the agent, and says only that', async () => {
    const hub = await hubGet('/health');
    assert.equal(hub.status, 200);
    assert.deepEqual(JSON.parse(hub.body), { status: 'ok' });
    assert.match(String(hub.headers['strict-transport-security']), /max-age=\d+/);
    const agent = await agentGet('/health');
    assert.equal(agent.status, 200);
    assert.deepEqual(await agent.json(), { status: 'ok' });
  });

  test('GET /metrics is refused without the credential or with a wrong one', async () => {
    const refusedHeaders: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${scrapeToken.slice(1)}` },
      { authorization: 'Bearer ' },
    ];
    for (const headers of refusedHeaders) {
      const answer = await hubGet('/metrics', headers);
      assert.equal(answer.status, 401);
      assert.equal((JSON.parse(answer.body) as { code: string }).code, 'AUTH_REQUIRED');
      assert.doesNotMatch(answer.body, /lifeline_hub_/);
    }
    // The agent's admin credential is not the hub's scrape token, and the other way round.
    assert.equal((await hubGet('/metrics', { authorization: `Bearer ${adminToken}` })).status, 401);
    assert.equal((await agentGet('/metrics')).status, 401);
    assert.equal((await agentGet('/metrics', { authorization: `Bearer ${scrapeToken}` })).status, 401);
    // /health is the agent's only open route.
    assert.equal((await agentGet('/v1/status')).status, 401);
  });

  test('a refused and an accepted session are counted on both sides, by reason', async () => {
    const refused = await runCli(['connect', cluster.stationId, '--service', 'nope', '--stdio'], {
      env: cluster.techEnv,
      input: 'x',
    });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /POLICY_SERVICE_UNKNOWN/);
    const accepted = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
      env: cluster.techEnv,
      input: 'counted\n',
    });
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal(accepted.stdout, 'counted\n');

    const hub = await waitFor('the hub to count the session', async () => {
      const text = await hubMetrics();
      return sample(text, 'lifeline_hub_sessions_total') === 1 ? text : undefined;
    });
    assert.equal(
      sample(hub, 'lifeline_hub_refusals_total', { kind: 'session', reason: 'POLICY_SERVICE_UNKNOWN' }),
      1,
    );
    assert.equal(sample(hub, 'lifeline_hub_tunnels_connected'), 1);
    // The agent's first heartbeat reaches the hub over call home soon after it starts.
    const heartbeatAge = await waitFor('the station heartbeat age on the hub', async () =>
      sample(await hubMetrics(), 'lifeline_hub_heartbeat_age_seconds', { station: cluster.stationId }),
    );
    assert.ok(heartbeatAge >= 0 && heartbeatAge < 600, `heartbeat age ${heartbeatAge}`);

    const agent = await agentMetrics();
    assert.equal(sample(agent, 'lifeline_agent_sessions_total'), 1);
    assert.equal(
      sample(agent, 'lifeline_agent_refusals_total', { kind: 'session', reason: 'POLICY_SERVICE_UNKNOWN' }),
      1,
    );
    assert.equal(sample(agent, 'lifeline_agent_tunnel_connected'), 1);
  });

  test('a refused login is counted by reason on the hub', async () => {
    const login = await cluster.login('tech', 'not-the-password');
    assert.equal(login.code, 1);
    assert.ok(
      (sample(await hubMetrics(), 'lifeline_hub_refusals_total', { kind: 'login', reason: 'AUTH_INVALID' }) ??
        0) >= 1,
    );
  });

  test('the outbox depth follows the reports waiting', async () => {
    await cluster.cli(['agent', 'callhome', 'pause', '--for', '1h', '--data', cluster.agentDir]);
    const ingestedBefore =
      sample(await hubMetrics(), 'lifeline_hub_reports_ingested_total', { kind: 'generic' }) ?? 0;
    for (const n of [1, 2, 3])
      await cluster.admin('POST', '/v1/reports', { kind: 'generic', payload: { type: 'metrics-test', n } });
    const outbox = (await cluster.admin('GET', '/v1/outbox')) as {
      status: { pending: number; held: number };
    };
    assert.ok(outbox.status.pending >= 3);
    const paused = await agentMetrics();
    assert.equal(sample(paused, 'lifeline_agent_outbox_depth', { state: 'pending' }), outbox.status.pending);
    assert.equal(sample(paused, 'lifeline_agent_outbox_depth', { state: 'held' }), outbox.status.held);
    const resumedAtMs = Date.now();
    await cluster.cli(['agent', 'callhome', 'resume', '--data', cluster.agentDir]);
    const drained = await waitFor('the outbox to drain', async () => {
      const text = await agentMetrics();
      return sample(text, 'lifeline_agent_outbox_depth', { state: 'pending' }) === 0 ? text : undefined;
    });
    assert.ok((sample(drained, 'lifeline_agent_reports_sent_total', { kind: 'generic' }) ?? 0) >= 3);
    // The hub counts the three it stored.
    assert.equal(
      sample(await hubMetrics(), 'lifeline_hub_reports_ingested_total', { kind: 'generic' }),
      ingestedBefore + 3,
    );
    // The status names the newest delivery the hub accepted: one of this drain.
    const status = (await cluster.admin('GET', '/v1/status')) as {
      lastCallHome: { atMs: number; kind: string; status: number } | null;
    };
    // (Another kind, a heartbeat say, may have left just after the three.)
    assert.match(status.lastCallHome?.kind ?? '', /^[a-z.-]+$/);
    assert.ok((status.lastCallHome?.atMs ?? 0) >= resumedAtMs);
    assert.ok((status.lastCallHome?.status ?? 0) >= 200 && (status.lastCallHome?.status ?? 0) < 300);
  });

  test('attachment chunks are counted by how they came: the upload channel', async () => {
    const file = join(cluster.root, 'metrics-dump.bin');
    writeFileSync(file, randomBytes(8 * 1024 * 1024 + 5));
    const opened = await cluster.cli([
      'agent',
      'problem',
      'open',
      '--summary',
      'metrics upload',
      '--severity',
      'minor',
      '--attach',
      file,
      '--data',
      cluster.agentDir,
    ]);
    assert.match(opened.stdout, /Uploaded metrics-dump.bin to the hub/);
    const text = await hubMetrics();
    assert.equal(sample(text, 'lifeline_hub_upload_chunks_total', { via: 'channel' }), 2);
    assert.equal(sample(text, 'lifeline_hub_upload_chunks_total', { via: 'call-home' }), undefined);
    assert.equal(sample(text, 'lifeline_hub_upload_bytes_total'), 8 * 1024 * 1024 + 5);
  });

  test('the tunnel gauges follow remote service off and on', async () => {
    await cluster.cli(['agent', 'remote', 'off', '--data', cluster.agentDir]);
    await waitFor('the tunnel gauges at 0', async () =>
      sample(await agentMetrics(), 'lifeline_agent_tunnel_connected') === 0 &&
      sample(await hubMetrics(), 'lifeline_hub_tunnels_connected') === 0
        ? true
        : undefined,
    );
    await cluster.cli(['agent', 'remote', 'on', '--data', cluster.agentDir]);
    await cluster.waitForTunnel();
    await waitFor('the tunnel gauges at 1', async () =>
      sample(await agentMetrics(), 'lifeline_agent_tunnel_connected') === 1 &&
      sample(await hubMetrics(), 'lifeline_hub_tunnels_connected') === 1
        ? true
        : undefined,
    );
    assert.ok((sample(await hubMetrics(), 'lifeline_hub_tunnel_connections_total') ?? 0) >= 2);
  });
});
