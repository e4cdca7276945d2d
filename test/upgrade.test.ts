// Data directories made by an earlier release (test/fixtures/upgrade/make.sh, run on 0.1.0 at
// 1bf0225) start under this build and keep what they held: the hub its station, technician and
// problem; the agent its service, ACL rule, audit chain and the report still in its outbox.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, freePorts, mergeIntoYaml, repoRoot, waitFor } from './harness/cluster.js';

const fixture = join(repoRoot, 'test', 'fixtures', 'upgrade', 'release-0.1.0');

/** Git keeps no file modes beyond the executable bit: give the copies the modes the release wrote. */
function copyPrivate(from: string, to: string): void {
  cpSync(from, to, { recursive: true });
  chmodSync(to, 0o700);
  for (const name of readdirSync(to)) chmodSync(join(to, name), 0o600);
}

describe('data directories of release 0.1.0', () => {
  let cluster: Cluster;
  const stationId = readFileSync(join(fixture, 'station-id'), 'utf8').trim();

  before(async () => {
    cluster = new Cluster();
    copyPrivate(join(fixture, 'hub'), cluster.hubDir);
    copyPrivate(join(fixture, 'agent'), cluster.agentDir);
    [cluster.stationPort = 0, cluster.apiPort = 0] = await freePorts(2);
    mergeIntoYaml(join(cluster.hubDir, 'hub.yaml'), {
      listen: `127.0.0.1:${cluster.stationPort}`,
      stationAddress: `127.0.0.1:${cluster.stationPort}`,
      apiListen: `127.0.0.1:${cluster.apiPort}`,
      apiUrl: `https://127.0.0.1:${cluster.apiPort}`,
    });
    mergeIntoYaml(join(cluster.agentDir, 'agent.yaml'), {
      hub: { endpoints: [`127.0.0.1:${cluster.stationPort}`] },
    });
    cluster.stationId = stationId;
  });

  after(async () => {
    await cluster?.close();
  });

  test('the audit chain the release wrote verifies before the new build touches agent.db', async () => {
    const verify = await cluster.cli(['agent', 'audit', '--verify', '--data', cluster.agentDir]);
    assert.match(verify.stdout, /Audit log chain verified: \d+ entries/);
  });

  test('the hub keeps its station, technician and problem', async () => {
    await cluster.startHub();
    const stations = await cluster.cli(['hub', 'stations', '--json', '--data', cluster.hubDir]);
    assert.deepEqual(
      (JSON.parse(stations.stdout) as { stationId: string }[]).map((s) => s.stationId),
      [stationId],
    );
    const problems = await cluster.cli(['hub', 'problems', '--json', '--data', cluster.hubDir]);
    assert.deepEqual(
      (JSON.parse(problems.stdout) as { number: string; summary: string }[]).map((p) => [
        p.number,
        p.summary,
      ]),
      [['P-000001', 'Fan 3 failed']],
    );
    const login = await cluster.login('tech', 'correct horse battery');
    assert.equal(login.code, 0, login.stderr);
  });

  test('the agent keeps its service and rule, delivers its waiting report, and its chain still verifies', async () => {
    await cluster.startAgent();
    const services = await cluster.cli(['agent', 'service', 'list', '--data', cluster.agentDir]);
    assert.match(services.stdout, /echo/);
    const rules = await cluster.cli(['agent', 'acl', 'list', '--json', '--data', cluster.agentDir]);
    const ruleList = JSON.parse(rules.stdout) as { technician?: string | null; note?: string | null }[];
    assert.deepEqual(
      ruleList.map((r) => [r.technician, r.note]),
      [['tech', 'fixture rule']],
    );
    const status = await cluster.agentStatus();
    assert.equal(status.stationId, stationId);
    assert.equal(status.accessLevel, 'restricted');
    assert.equal(status.remoteEnabled, true, 'remote service stays on across the upgrade');
    await cluster.waitForTunnel();

    await waitFor('the report the release left in the outbox to reach the hub', async () => {
      const problems = await cluster.cli(['hub', 'problems', '--json', '--data', cluster.hubDir]);
      const list = JSON.parse(problems.stdout) as { number: string; summary: string }[];
      return list.some((p) => p.summary === 'Disk 2 degraded') ? list : undefined;
    });

    const verify = await cluster.cli(['agent', 'audit', '--verify', '--data', cluster.agentDir]);
    assert.match(verify.stdout, /Audit log chain verified: \d+ entries/);
    assert.match(verify.stdout, /checkpoint/i);
  });
});
