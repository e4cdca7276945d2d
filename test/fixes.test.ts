// Fixes end to end: the hub publishes signed fixes, the agent lists those for its model, downloads
// one (resuming a .part with a range request), and refuses a file changed on the hub's disk; with
// the agent stopped, the CLI audits a download in agent.db itself.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, runCli } from './harness/cluster.js';

interface AgentFixJson {
  name: string;
  version: string;
  file: string;
  size: number;
  sha256: string;
  appliesTo: string[];
  downloaded: boolean;
  downloadedTo: string | null;
}

interface HubFixJson {
  name: string;
  version: string;
  path: string;
  sha256: string;
}

interface AuditJson {
  actor: string;
  action: string;
  detail: Record<string, unknown>;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const mib = 1024 * 1024;

describe('fixes', () => {
  let cluster: Cluster;
  const files: Record<string, Buffer> = {};

  const publish = async (name: string, version: string, model: string, size: number) => {
    const data = randomBytes(size);
    const path = join(cluster.root, `${name}-${version}.bin`);
    writeFileSync(path, data);
    files[`${name} ${version}`] = data;
    const out = await cluster.cli([
      'hub',
      'fix',
      'publish',
      path,
      '--name',
      name,
      '--version',
      version,
      '--applies-to',
      model,
      '--data',
      cluster.hubDir,
    ]);
    assert.match(out.stdout, new RegExp(`Published fix ${name} ${version}`));
    return data;
  };
  const agentFixes = async (): Promise<AgentFixJson[]> =>
    JSON.parse(
      (await cluster.cli(['agent', 'fixes', '--json', '--data', cluster.agentDir])).stdout,
    ) as AgentFixJson[];
  const hubAudit = async (): Promise<AuditJson[]> =>
    JSON.parse(
      (await cluster.cli(['hub', 'audit', '--json', '--data', cluster.hubDir])).stdout,
    ) as AuditJson[];
  const agentAudit = async (): Promise<AuditJson[]> =>
    ((await cluster.admin('GET', '/v1/audit')) as { entries: AuditJson[] }).entries;
  const download = (name: string, out: string, extra: string[] = []) =>
    runCli(['agent', 'fix', 'download', name, '--out', out, ...extra, '--data', cluster.agentDir], {
      timeoutMs: 60_000,
    });

  before(async () => {
    // A hub initialised before fixes existed has no fix key: `hub start` makes it.
    cluster = new Cluster();
    await cluster.initHub();
    rmSync(join(cluster.hubDir, 'fix-key.pem'));
    rmSync(join(cluster.hubDir, 'fix-pub.pem'));
    await cluster.startHub();
    await cluster.enroll();
    writeFileSync(
      join(cluster.agentDir, 'agent.yaml'),
      readFileSync(join(cluster.agentDir, 'agent.yaml'), 'utf8') + 'appliance:\n  model: X100\n',
    );
    await cluster.startAgent();
  });

  after(async () => {
    await cluster?.close();
  });

  test('hub start made the missing fix key and the agent pinned it at enrollment', () => {
    const hubKey = readFileSync(join(cluster.hubDir, 'fix-pub.pem'), 'utf8');
    assert.match(hubKey, /BEGIN PUBLIC KEY/);
    assert.equal(readFileSync(join(cluster.agentDir, 'hub-fix-key.pem'), 'utf8'), hubKey);
    assert.notEqual(hubKey, readFileSync(join(cluster.hubDir, 'ticket-pub.pem'), 'utf8'));
  });

  test('agent fixes lists only the fixes for its model; the same name and version is published once', async () => {
    const data = await publish('bmc-fw', '2.1.0', 'X100', 3 * mib + 12_345);
    await publish('raid-fw', '7.0', 'Y200', mib);
    const listed = await agentFixes();
    assert.deepEqual(
      listed.map((f) => [f.name, f.version, f.size, f.sha256, f.downloaded]),
      [['bmc-fw', '2.1.0', data.length, sha256(data), false]],
    );
    const again = await runCli([
      'hub',
      'fix',
      'publish',
      join(cluster.root, 'bmc-fw-2.1.0.bin'),
      '--name',
      'bmc-fw',
      '--version',
      '2.1.0',
      '--data',
      cluster.hubDir,
    ]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /CALLHOME_FIX_EXISTS/);
    const published = (await hubAudit()).filter((e) => e.action === 'fix.published');
    assert.deepEqual(
      published.map((e) => e.detail.name),
      ['bmc-fw', 'raid-fw'],
    );
  });

  test('fix download gives the same bytes, audited on the agent, and agent fixes marks it downloaded', async () => {
    const out = join(cluster.root, 'out-1');
    const result = await download('bmc-fw', out);
    assert.equal(result.code, 0, result.stderr);
    const expected = files['bmc-fw 2.1.0'];
    assert.ok(expected);
    assert.equal(sha256(readFileSync(join(out, 'bmc-fw-2.1.0.bin'))), sha256(expected));
    assert.deepEqual(readdirSync(out), ['bmc-fw-2.1.0.bin']);
    const entry = (await agentAudit()).find((e) => e.action === 'fix.downloaded');
    assert.equal(entry?.detail.sha256, sha256(expected));
    // Recorded by the running agent, which names the admin API's client.
    assert.equal(entry?.actor, 'admin@127.0.0.1');
    const [listed] = await agentFixes();
    assert.equal(listed?.downloaded, true);
    assert.equal(listed?.downloadedTo, join(out, 'bmc-fw-2.1.0.bin'));
  });

  test('a fix for another model is not offered for download', async () => {
    const result = await download('raid-fw', join(cluster.root, 'out-other'));
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /CALLHOME_FIX_NOT_FOUND/);
  });

  test('an interrupted download resumes: only the rest of the file is requested', async () => {
    const expected = files['bmc-fw 2.1.0'];
    assert.ok(expected);
    const out = join(cluster.root, 'out-resume');
    const have = 2 * mib + 7;
    mkdirSync(out);
    writeFileSync(join(out, 'bmc-fw-2.1.0.bin.part'), expected.subarray(0, have));
    const result = await download('bmc-fw', out, ['--version', '2.1.0']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /resumed after 2 MiB/);
    assert.equal(sha256(readFileSync(join(out, 'bmc-fw-2.1.0.bin'))), sha256(expected));
    const served = (await hubAudit()).filter((e) => e.action === 'fix.served');
    assert.deepEqual(served.at(-1)?.detail, {
      name: 'bmc-fw',
      version: '2.1.0',
      from: have,
      to: expected.length,
    });
    const entry = (await agentAudit()).filter((e) => e.action === 'fix.downloaded').at(-1);
    assert.equal(entry?.detail.resumedFromBytes, have);
  });

  test('a fix with one byte changed on the hub disk is refused and leaves nothing in --out', async () => {
    await publish('bios', '1.0.3', 'X100', 2 * mib);
    const fixes = JSON.parse(
      (await cluster.cli(['hub', 'fixes', '--json', '--data', cluster.hubDir])).stdout,
    ) as HubFixJson[];
    const bios = fixes.find((f) => f.name === 'bios');
    assert.ok(bios);
    const onDisk = join(cluster.hubDir, bios.path);
    const bytes = readFileSync(onDisk);
    bytes[1_000_000] = (bytes[1_000_000] ?? 0) ^ 0x01;
    writeFileSync(onDisk, bytes);

    const out = join(cluster.root, 'out-tampered');
    const result = await download('bios', out);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /CALLHOME_FIX_UNVERIFIED/);
    assert.match(result.stderr, /SHA-256/);
    assert.deepEqual(existsSync(out) ? readdirSync(out) : [], []);
    const refused = (await agentAudit()).filter((e) => e.action === 'fix.refused').at(-1);
    assert.equal(refused?.detail.code, 'CALLHOME_FIX_UNVERIFIED');
    assert.equal(refused?.detail.name, 'bios');
  });

  test('an agent with no pinned fix key refuses fixes and says to enroll again', async () => {
    const keyPath = join(cluster.agentDir, 'hub-fix-key.pem');
    renameSync(keyPath, `${keyPath}.away`);
    try {
      const out = join(cluster.root, 'out-nokey');
      const result = await download('bmc-fw', out);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /CALLHOME_FIX_KEY_MISSING/);
      assert.match(result.stderr, /[Ee]nroll it again/);
      assert.equal(existsSync(join(out, 'bmc-fw-2.1.0.bin')), false);
    } finally {
      renameSync(`${keyPath}.away`, keyPath);
    }
  });

  test('with the agent stopped, the CLI audits a download in the chain itself and agent fixes lists it', async () => {
    await cluster.stopAgent();
    const data = await publish('nic-fw', '1.0.0', 'X100', 100_000);
    const out = join(cluster.root, 'out-offline');
    const result = await download('nic-fw', out);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Downloaded fix nic-fw 1\.0\.0 to /);
    assert.equal(sha256(readFileSync(join(out, 'nic-fw-1.0.0.bin'))), sha256(data));
    const audit = JSON.parse(
      (await cluster.cli(['agent', 'audit', '--json', '--data', cluster.agentDir])).stdout,
    ) as AuditJson[];
    const entry = audit.at(-1);
    assert.equal(entry?.action, 'fix.downloaded');
    assert.equal(entry.actor, 'admin@cli');
    assert.equal(entry.detail.name, 'nic-fw');
    const listed = (await agentFixes()).find((f) => f.name === 'nic-fw');
    assert.equal(listed?.downloadedTo, join(out, 'nic-fw-1.0.0.bin'));
    const verify = await runCli(['agent', 'audit', '--verify', '--data', cluster.agentDir]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /Audit log chain verified/);
  });
});
