// Rotating the hub's CA and ticket key, from outside: an agent that calls home during the overlap
// pins the new ones, renews into the new CA and keeps working after the overlap ends; an agent that
// was offline for the whole overlap cannot verify the hub any more and is told to re-enroll.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { CliProcess, Cluster, freePort, runCli, waitFor } from '../harness/cluster.js';
import { startEchoServer, type EchoServer } from '../harness/echo-server.js';

interface StatusJson {
  tunnel: { state: string; sinceMs: number; lastError: string | null };
  certificate: { state: string; notAfterMs: number; summary: string } | null;
}

type AuditRow = { action: string; detail: Record<string, unknown> };

/** Long enough to hold one renewal of a 60 s certificate (due at half its life) after the start. */
const overlap = '40s';

function setHubYaml(cluster: Cluster, key: string, value: string): void {
  const path = join(cluster.hubDir, 'hub.yaml');
  const yaml = readFileSync(path, 'utf8').replace(new RegExp(`^${key}:.*$`, 'm'), `${key}: ${value}`);
  writeFileSync(path, yaml);
}

async function agentAudit(cluster: Cluster, dataDir = cluster.agentDir): Promise<AuditRow[]> {
  return JSON.parse(
    (await cluster.cli(['agent', 'audit', '--json', '--data', dataDir])).stdout,
  ) as AuditRow[];
}

async function echoSession(cluster: Cluster, text: string): Promise<void> {
  const result = await runCli(['connect', cluster.stationId, '--service', 'echo', '--stdio'], {
    env: cluster.techEnv,
    input: text,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, text);
}

describe('hub rotate ca and ticket-key', () => {
  let echo: EchoServer;
  let cluster: Cluster;
  let offlineDir: string;

  before(async () => {
    echo = await startEchoServer();
    cluster = new Cluster();
    await cluster.initHub();
    setHubYaml(cluster, 'stationCertValidity', '60s');
    await cluster.startHub();
    await cluster.addUser('tech', 'tech-password-1');
    await cluster.enroll();
    // A second appliance, enrolled now and then switched off for the whole overlap.
    offlineDir = join(cluster.root, 'offline-agent');
    await cluster.enroll(offlineDir);
    await cluster.addService('echo', echo.port);
    await cluster.startAgent();
    await cluster.cli(['agent', 'access', 'full', '--data', cluster.agentDir]);
    await cluster.cli(['agent', 'remote', 'on', '--data', cluster.agentDir]);
    await cluster.waitForTunnel();
    const login = await cluster.login('tech', 'tech-password-1');
    assert.equal(login.code, 0, login.stderr);
  });

  after(async () => {
    await cluster?.close();
    await echo?.close();
  });

  test('an agent online during the overlap pins the new CA and key and keeps working after it', async () => {
    const oldCa = readFileSync(join(cluster.hubDir, 'ca.pem'), 'utf8');
    const startedAtMs = Date.now();
    await cluster.cli(['hub', 'rotate', 'ca', '--overlap', overlap, '--data', cluster.hubDir]);
    await cluster.cli(['hub', 'rotate', 'ticket-key', '--overlap', overlap, '--data', cluster.hubDir]);
    const newCa = readFileSync(join(cluster.hubDir, 'ca-next.pem'), 'utf8');

    // During the overlap: the agent renews (signed by the new CA) and pins both CAs and both keys.
    await waitFor(
      'a certificate from the new CA',
      () => {
        const cert = new X509Certificate(readFileSync(join(cluster.agentDir, 'station.pem'), 'utf8'));
        return cert.checkIssued(new X509Certificate(newCa)) ? true : undefined;
      },
      38_000,
      500,
    );
    const pinned = readFileSync(join(cluster.agentDir, 'hub-ca.pem'), 'utf8');
    assert.ok(pinned.includes(oldCa.trim()) && pinned.includes(newCa.trim()), 'both CAs pinned');
    const keys = readFileSync(join(cluster.agentDir, 'hub-ticket-key.pem'), 'utf8');
    assert.equal(keys.match(/BEGIN PUBLIC KEY/g)?.length, 2, 'both ticket keys pinned');
    assert.ok((await agentAudit(cluster)).some((e) => e.action === 'trust.pinned' && e.detail.hubCas === 2));
    await echoSession(cluster, 'during the overlap\n');

    // After the overlap: the hub serves the new CA's certificate, trusts only it, signs with the new key.
    await waitFor(
      'the overlap to end',
      () => (Date.now() > startedAtMs + 42_000 ? true : undefined),
      60_000,
      500,
    );
    await waitFor(
      'the hub to switch over',
      () => (readFileSync(join(cluster.hubDir, 'ca.pem'), 'utf8') === newCa ? true : undefined),
      5000,
    );
    const hubAudit = JSON.parse(
      (await cluster.cli(['hub', 'audit', '--json', '--data', cluster.hubDir])).stdout,
    ) as AuditRow[];
    assert.ok(hubAudit.some((e) => e.action === 'trust.rotate.ca'));
    assert.ok(hubAudit.some((e) => e.action === 'trust.rotate.ticket-key'));
    // A ticket signed with the new key is accepted.
    await echoSession(cluster, 'after the overlap\n');
    // A new tunnel verifies the hub's new certificate and presents one the hub still trusts.
    await cluster.stopAgent();
    await cluster.startAgent();
    await cluster.waitForTunnel('connected', 15_000);
    await echoSession(cluster, 'after a reconnect\n');
  });

  test('an agent offline for the whole overlap is told to re-enroll', async () => {
    const adminPort = await freePort();
    const agent = cluster.track(
      new CliProcess(['agent', 'start', '--data', offlineDir, '--admin-listen', `127.0.0.1:${adminPort}`]),
    );
    const status = await waitFor(
      'the re-enroll instruction',
      async () => {
        const result = await runCli(['agent', 'status', '--json', '--data', offlineDir]);
        if (result.code !== 0) return undefined;
        const parsed = JSON.parse(result.stdout) as StatusJson;
        return parsed.certificate?.state === 'reenroll' ? parsed : undefined;
      },
      20_000,
      250,
    );
    assert.match(status.certificate?.summary ?? '', /not issued by the pinned hub CA/);
    assert.match(status.certificate?.summary ?? '', /enroll this station again with a new token/);
    const text = await runCli(['agent', 'status', '--data', offlineDir]);
    assert.match(text.stdout, /Certificate +.*enroll this station again/);
    await agent.stop();
  });
});
