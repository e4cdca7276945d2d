// Collected call-home reports end to end: heartbeats, inventory and performance samples reach the
// hub and show in its CLI; `agent callhome test` passes against a running hub, also with the agent
// down, and names the TCP step when the hub is gone.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { hostname, totalmem } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Cluster, runCli, waitFor } from './harness/cluster.js';

interface StationRow {
  stationId: string;
  lastHeartbeatAtMs: number | null;
  heartbeatIntervalMs: number | null;
  silent: boolean;
}

interface InventoryJson {
  reportId: string;
  inventory: {
    digest: string;
    appliance: { hostName: string; memoryBytes: number; lifelineVersion: string; model?: string };
    systems: { serial: string; model?: string; firmware?: Record<string, string> }[];
  };
}

interface SampleJson {
  source: string;
  sample: { atMs: number; cpu?: { utilizationPct: number }; memory?: { totalBytes: number } };
}

interface TestReportJson {
  ok: boolean;
  steps: { step: string; status: string; reason?: string; detail?: string }[];
}

const agentYaml = `
callhome:
  heartbeatInterval: 1m
  performanceInterval: 10s
  performanceSamplesPerReport: 1
  systems:
    - serial: SN-1
      type: "9105"
      model: 42A
      firmware:
        system: FW950.50
`;

/** The machine may be busy with other test runs: give the agent and the hub time. */
const waitLong = <T>(what: string, check: () => Promise<T | undefined> | T | undefined): Promise<T> =>
  waitFor(what, check, 30_000, 200);

describe('collected reports and call-home test', () => {
  let cluster: Cluster;

  const hubJson = async <T>(args: string[]): Promise<T> =>
    JSON.parse((await cluster.cli(['hub', ...args, '--json', '--data', cluster.hubDir])).stdout) as T;
  const inventory = () => hubJson<InventoryJson>(['inventory', cluster.stationId]);

  before(async () => {
    cluster = await Cluster.start({ remote: false, agentYaml });
  });

  after(async () => {
    await cluster?.close();
  });

  test('the heartbeat sent at start reaches the hub: hub stations shows it, with the interval announced', async () => {
    const row = await waitLong('a heartbeat at the hub', async () =>
      (await hubJson<StationRow[]>(['stations'])).find(
        (s) => s.stationId === cluster.stationId && s.lastHeartbeatAtMs !== null,
      ),
    );
    assert.equal(row.heartbeatIntervalMs, 60_000);
    assert.equal(row.silent, false);
    assert.ok(Math.abs((row.lastHeartbeatAtMs ?? 0) - Date.now()) < 60_000);
    const table = (await cluster.cli(['hub', 'stations', '--data', cluster.hubDir])).stdout;
    assert.match(table, /LAST HEARTBEAT/);
    assert.match(table, new RegExp(`${cluster.stationId}.*s ago`));
    assert.doesNotMatch(table, /SILENT/);
  });

  test('a system status set through the admin API is in the next heartbeat at the hub', async () => {
    await cluster.admin('PUT', '/v1/systems/SN-1/status', { status: 'critical', detail: 'PSU 2 failed' });
    await cluster.admin('POST', '/v1/heartbeat/send');
    const systems = await waitLong('the status at the hub', () => {
      const db = new Database(join(cluster.hubDir, 'hub.db'), { readonly: true });
      const row = db
        .prepare('select systems from station_health where station_id = ?')
        .get(cluster.stationId) as { systems: string } | undefined;
      db.close();
      const parsed = JSON.parse(row?.systems ?? '[]') as {
        serial: string;
        status: string;
        detail?: string;
      }[];
      return parsed.some((s) => s.status === 'critical') ? parsed : undefined;
    });
    assert.deepEqual(
      systems.map(({ serial, status, detail }) => ({ serial, status, detail })),
      [{ serial: 'SN-1', status: 'critical', detail: 'PSU 2 failed' }],
    );
  });

  test('the inventory sent at start reaches the hub; inventory send --file adds managed systems', async () => {
    const first = await waitLong('the inventory at the hub', () => inventory().catch(() => undefined));
    assert.equal(first.inventory.appliance.hostName, hostname());
    assert.equal(first.inventory.appliance.memoryBytes, totalmem());
    assert.equal(first.inventory.appliance.lifelineVersion, '0.1.0');
    assert.deepEqual(first.inventory.systems, [
      { serial: 'SN-1', type: '9105', model: '42A', firmware: { system: 'FW950.50' } },
    ]);

    const file = join(cluster.root, 'systems.yaml');
    writeFileSync(
      file,
      'systems:\n  - serial: SN-2\n    model: E980\n    firmware: { system: FW860.10 }\n    parts:\n      - { name: fan, partNumber: 01AB123, location: U78-A1 }\n',
    );
    const sent = await cluster.cli([
      'agent',
      'inventory',
      'send',
      '--file',
      file,
      '--data',
      cluster.agentDir,
    ]);
    const queued = /Inventory queued as report ([0-9a-f]{32}) .*systems SN-1, SN-2/.exec(sent.stdout);
    assert.ok(queued?.[1], sent.stdout);
    const second = await waitLong('the new inventory at the hub', async () => {
      const latest = await inventory();
      return latest.reportId === queued[1] ? latest : undefined;
    });
    assert.deepEqual(
      second.inventory.systems.map((s) => s.serial),
      ['SN-1', 'SN-2'],
    );
    assert.notEqual(second.inventory.digest, first.inventory.digest);
    const table = (await cluster.cli(['hub', 'inventory', cluster.stationId, '--data', cluster.hubDir]))
      .stdout;
    assert.match(table, /SN-2\s+E980\s+system FW860\.10\s+1/);

    const bad = await runCli([
      'agent',
      'inventory',
      'send',
      '--file',
      file + '.missing',
      '--data',
      cluster.agentDir,
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--file: cannot read/);
  });

  test("the host's performance samples from /proc and a managed system's from the API reach the hub", async () => {
    const host = await waitFor(
      'host samples at the hub',
      async () => {
        const samples = await hubJson<SampleJson[]>(['performance', cluster.stationId, '--source', 'host']);
        return samples.length > 0 ? samples : undefined;
      },
      40_000,
      500,
    );
    const sample = host[0]?.sample;
    assert.ok(sample?.cpu && sample.cpu.utilizationPct >= 0 && sample.cpu.utilizationPct <= 100);
    assert.equal(sample.memory?.totalBytes, totalmem());

    const atMs = Date.now() - 1000;
    await cluster.admin('POST', '/v1/performance', {
      source: 'SN-1',
      samples: [
        { atMs, spanMs: 60_000, cpu: { utilizationPct: 42.5 }, memory: { usedBytes: 1, totalBytes: 2 } },
      ],
    });
    const system = await waitLong('system samples at the hub', async () => {
      const samples = await hubJson<SampleJson[]>(['performance', cluster.stationId, '--source', 'SN-1']);
      return samples.length > 0 ? samples : undefined;
    });
    assert.deepEqual(
      system.map((s) => [s.sample.atMs, s.sample.cpu?.utilizationPct]),
      [[atMs, 42.5]],
    );
  });

  test('callhome test passes every step, from the admin API and from the CLI with the agent down', async () => {
    const viaApi = (await cluster.admin('POST', '/v1/callhome/test')) as TestReportJson;
    assert.equal(viaApi.ok, true, JSON.stringify(viaApi));
    await cluster.stopAgent();
    const text = await cluster.cli(['agent', 'callhome', 'test', '--data', cluster.agentDir]);
    for (const step of [
      'station certificate',
      'name resolution',
      'TCP connect',
      'TLS and hub identity',
      'round trip',
    ])
      assert.match(text.stdout, new RegExp(`ok\\s+${step}:`), text.stdout);
    assert.match(text.stdout, /proxy:\s+none configured/);
    assert.match(text.stdout, /days left/);
    assert.match(text.stdout, /clock skew [+-]\d+\.\d s/);
    const json = JSON.parse(
      (await cluster.cli(['agent', 'callhome', 'test', '--json', '--data', cluster.agentDir])).stdout,
    ) as TestReportJson;
    assert.equal(json.ok, true);
    assert.deepEqual(
      json.steps.map((s) => `${s.step} ${s.status}`),
      [
        'station-certificate ok',
        'name-resolution ok',
        'tcp-connect ok',
        'proxy skipped',
        'tls-handshake ok',
        'round-trip ok',
      ],
    );
  });

  test('with the hub stopped, callhome test fails at TCP connect with the reason and exits non-zero', async () => {
    await cluster.stopHub();
    const text = await runCli(['agent', 'callhome', 'test', '--data', cluster.agentDir]);
    assert.equal(text.code, 1, text.stderr);
    assert.match(
      text.stdout,
      /FAILED\s+TCP connect:\s+\d+ ms\s+connection refused by 127\.0\.0\.1:\d+.*\(ECONNREFUSED\)/,
    );
    assert.match(text.stdout, /Call home FAILED/);
    const json = JSON.parse(
      (await runCli(['agent', 'callhome', 'test', '--json', '--data', cluster.agentDir])).stdout,
    ) as TestReportJson;
    assert.equal(json.ok, false);
    assert.deepEqual(
      json.steps.map((s) => `${s.step} ${s.status}`),
      [
        'station-certificate ok',
        'name-resolution ok',
        'tcp-connect failed',
        'tls-handshake skipped',
        'round-trip skipped',
      ],
    );
    assert.match(json.steps[2]?.reason ?? '', /ECONNREFUSED/);
  });
});
