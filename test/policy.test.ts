// Restricted access end to end: access requests, accept and reject, rules that expire or are
// removed, one-time access, connect --wait, and the administrator's webhook.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyWebhookSignature } from '../src/agent/notify/index.js';
import { CliProcess, Cluster, cliPath, runCli, waitFor, type CliResult } from './harness/cluster.js';
import { startEchoServer, type EchoServer } from './harness/echo-server.js';
import { sshClientArgs, startSshd, type Sshd } from './harness/sshd.js';
import { startWebhookReceiver, type WebhookReceiver } from './harness/webhook-receiver.js';

const webhookSecret = 'a-webhook-secret-for-the-tests';

interface RequestJson {
  id: string;
  status: string;
  technician: string;
  technicianName: string;
  service: string;
  reason: string | null;
  attempts: number;
}

describe('restricted access', () => {
  let cluster: Cluster;
  let echo: EchoServer;
  let sshd: Sshd;
  let webhook: WebhookReceiver;
  let guestEnv: NodeJS.ProcessEnv;

  const requests = async (): Promise<RequestJson[]> =>
    JSON.parse(
      (await cluster.cli(['agent', 'requests', '--json', '--data', cluster.agentDir])).stdout,
    ) as RequestJson[];
  const echoOnce = (env: NodeJS.ProcessEnv, extra: string[] = []) =>
    runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio', ...extra], {
      env,
      input: 'ping\n',
    });

  function ssh(env: NodeJS.ProcessEnv): Promise<CliResult> {
    const proxy = `${process.execPath} ${cliPath} connect ${cluster.stationId} --service ssh --stdio --reason 'case 4711'`;
    return new Promise((done) => {
      const child = spawn(
        'ssh',
        [...sshClientArgs(sshd), '-o', `ProxyCommand=${proxy}`, `${sshd.user}@appliance`, 'echo far-side'],
        { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('close', (code) => done({ code: code ?? -1, stdout, stderr }));
    });
  }

  before(async () => {
    echo = await startEchoServer();
    sshd = await startSshd();
    webhook = await startWebhookReceiver();
    cluster = new Cluster();
    await cluster.initHub();
    await cluster.startHub();
    await cluster.addUser('tech', 'tech-password-1');
    await cluster.enroll();
    writeFileSync(join(cluster.agentDir, 'webhook-secret'), webhookSecret, { mode: 0o600 });
    appendFileSync(
      join(cluster.agentDir, 'agent.yaml'),
      `notifications:\n  webhook:\n    url: ${webhook.url}\n    secretFile: webhook-secret\n`,
    );
    await cluster.addService('echo', echo.port);
    await cluster.addService('ssh', sshd.port);
    await cluster.startAgent();
    await cluster.cli(['agent', 'remote', 'on', '--data', cluster.agentDir]);
    await cluster.waitForTunnel();
    assert.equal((await cluster.login('tech', 'tech-password-1')).code, 0);
    guestEnv = await cluster.technician('guest', 'guest-password-1');
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
    await sshd?.close();
    await webhook?.close();
  });

  test('restricted is the level after remote service is turned on', async () => {
    assert.equal((await cluster.agentStatus()).accessLevel, 'restricted');
  });

  test('an unknown technician is refused with a request id; accepting it lets the same ssh in', async () => {
    const refused = await ssh(cluster.techEnv);
    assert.notEqual(refused.code, 0);
    const match = /pending approval: access request (AR-[0-9A-Z]{6}) waits/.exec(refused.stderr);
    assert.ok(match?.[1], refused.stderr);
    const requestId = match[1];

    const pending = (await requests()).find((r) => r.id === requestId);
    assert.ok(pending);
    assert.equal(pending.status, 'pending');
    assert.equal(pending.technicianName, 'tech');
    assert.equal(pending.service, 'ssh');
    assert.equal(pending.reason, 'case 4711');
    assert.equal((await cluster.agentStatus()).pendingRequests, 1);

    // Trying again updates the same request instead of making another.
    await ssh(cluster.techEnv);
    const again = (await requests()).filter((r) => r.technician === 'tech' && r.status === 'pending');
    assert.equal(again.length, 1);
    assert.equal(again[0]?.attempts, 2);

    await cluster.cli(['agent', 'accept', requestId, '--data', cluster.agentDir]);
    const allowed = await ssh(cluster.techEnv);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(allowed.stdout, 'far-side\n');
    const rules = JSON.parse(
      (await cluster.cli(['agent', 'acl', 'list', '--json', '--data', cluster.agentDir])).stdout,
    ) as {
      technician: string;
      services: string[];
      fromRequest: string;
    }[];
    assert.ok(
      rules.some(
        (r) => r.technician === 'tech' && r.fromRequest === requestId && r.services.join() === 'ssh',
      ),
    );
  });

  test('a rejected technician stays refused', async () => {
    const first = await echoOnce(guestEnv);
    const requestId = /(AR-[0-9A-Z]{6})/.exec(first.stderr)?.[1];
    assert.ok(requestId, first.stderr);
    await cluster.cli(['agent', 'reject', requestId, '--note', 'not today', '--data', cluster.agentDir]);
    const after = await echoOnce(guestEnv);
    assert.equal(after.code, 1);
    assert.match(
      after.stderr,
      new RegExp(
        `access request ${requestId} was rejected by the appliance administrator: not today \\(POLICY_REQUEST_REJECTED\\)`,
      ),
    );
    assert.equal(
      (await requests()).filter((r) => r.technician === 'guest' && r.status === 'pending').length,
      0,
    );
  });

  test('connect --wait waits while a request is pending and proceeds when it is accepted', async () => {
    await cluster.cli([
      'agent',
      'acl',
      'add',
      '--technician',
      'tech',
      '--services',
      'ssh',
      '--data',
      cluster.agentDir,
    ]);
    const waiting = cluster.track(
      new CliProcess(
        ['connect', cluster.stationId, '--service', 'echo', '--stdio', '--wait', '1m', '--reason', 'waiting'],
        cluster.techEnv,
      ),
    );
    const requestId = await waitFor('the request id', () => /(AR-[0-9A-Z]{6})/.exec(waiting.stderr)?.[1]);
    assert.match(waiting.stderr, /waiting for the decision/);
    const before = (await requests()).find((r) => r.id === requestId);
    assert.equal(before?.attempts, 1);
    await cluster.cli(['agent', 'accept', requestId, '--for', '1h', '--data', cluster.agentDir]);
    waiting.child.stdin?.write('after accept\n');
    await waitFor(
      'the session to proceed',
      () => (waiting.stdout.includes('after accept') ? true : undefined),
      10_000,
    );
    waiting.child.stdin?.end();
    assert.equal(await waiting.exited, 0);
  });

  test('accept --for: the rule expires and the session it allowed ends; acl remove ends sessions too', async () => {
    // A short acceptance: the rule it creates lasts 2 s.
    const briefEnv = await cluster.technician('brief', 'brief-password-1');
    const first = await echoOnce(briefEnv, ['--reason', 'short']);
    const requestId = /(AR-[0-9A-Z]{6})/.exec(first.stderr)?.[1];
    assert.ok(requestId, first.stderr);
    await cluster.cli(['agent', 'accept', requestId, '--for', '2s', '--data', cluster.agentDir]);
    const session = cluster.track(
      new CliProcess(['connect', cluster.stationId, '--service', 'echo', '--stdio'], briefEnv),
    );
    session.child.stdin?.write('hello\n');
    await waitFor('the session', () => (session.stdout.includes('hello') ? true : undefined));
    assert.equal(await session.exited, 1);
    assert.match(
      session.stderr,
      /session ended: the access rule that allowed the session expired or was removed/,
    );

    const add = await cluster.cli([
      'agent',
      'acl',
      'add',
      '--technician',
      'guest',
      '--services',
      'echo',
      '--data',
      cluster.agentDir,
    ]);
    const ruleId = /Rule (R-[0-9A-Z]{6}) added/.exec(add.stdout)?.[1];
    assert.ok(ruleId);
    const second = cluster.track(
      new CliProcess(['connect', cluster.stationId, '--service', 'echo', '--stdio'], guestEnv),
    );
    second.child.stdin?.write('hello\n');
    await waitFor('the second session', () => (second.stdout.includes('hello') ? true : undefined));
    const before = Date.now();
    await cluster.cli(['agent', 'acl', 'remove', ruleId, '--data', cluster.agentDir]);
    assert.equal(await second.exited, 1);
    const endedAtMs = Date.now();
    const tookMs = endedAtMs - (await cluster.agentAuditedAt('acl.remove', before));
    assert.ok(tookMs < 1000, `the session ended ${tookMs} ms after the agent removed the rule`);
    assert.match(second.stderr, /expired or was removed/);
  });

  test('grant-once admits exactly one session', async () => {
    const env = await cluster.technician('once', 'once-password-1');
    await cluster.cli(['agent', 'grant-once', '--within', '10m', '--data', cluster.agentDir]);
    const first = await echoOnce(env);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'ping\n');
    const second = await echoOnce(env);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /pending approval/);
    const status = await cluster.cli(['agent', 'status', '--data', cluster.agentDir]);
    assert.match(status.stdout, /One-time access {2}G-[0-9A-Z]{6} used/);
  });

  test('the webhook received a correctly signed notification for each kind of event', async () => {
    const types = new Set<string>();
    await waitFor('the notifications', () => {
      for (const hit of webhook.received) {
        const signature = hit.headers['lifeline-signature'];
        assert.equal(typeof signature, 'string');
        assert.ok(
          verifyWebhookSignature(webhookSecret, String(signature), hit.body, Math.floor(Date.now() / 1000)),
        );
        const event = JSON.parse(hit.body) as { type: string; stationId: string };
        assert.equal(event.stationId, cluster.stationId);
        assert.equal(hit.headers['lifeline-event'], event.type);
        types.add(event.type);
      }
      return [
        'access-request.created',
        'access-request.accepted',
        'access-request.rejected',
        'session.started',
        'session.ended',
      ].every((t) => types.has(t))
        ? true
        : undefined;
    });
  });

  test('the admin API describes itself in OpenAPI and refuses malformed requests with a reason', async () => {
    const doc = (await cluster.admin('GET', '/v1/openapi.json')) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    assert.match(doc.openapi, /^3\./);
    for (const path of [
      '/v1/status',
      '/v1/acl',
      '/v1/acl/{id}',
      '/v1/requests',
      '/v1/requests/{id}/accept',
      '/v1/grants',
    ]) {
      assert.ok(path in doc.paths, path);
    }
    const token = readFileSync(join(cluster.agentDir, 'admin-token'), 'utf8').trim();
    const response = await fetch(`http://127.0.0.1:${cluster.adminPort}/v1/acl`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ technician: 'tech', services: ['127.0.0.1'] }),
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { code: string; message: string };
    assert.equal(body.code, 'API_BAD_REQUEST');
    assert.match(body.message, /services/);
    const unauthenticated = await fetch(`http://127.0.0.1:${cluster.adminPort}/v1/acl`);
    assert.equal(unauthenticated.status, 401);
  });
});
