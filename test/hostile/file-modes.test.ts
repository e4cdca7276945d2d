// Files and modes, across processes: with a umask that takes nothing away and data directories an
// operator made with `mkdir -m 755`, `hub init` and `agent enroll` tighten the directories and
// leave every database, key and token 0600; after the hub and agent ran, took a report with a file
// attached, published and downloaded a fix and a technician logged in, every file in their
// directories is still 0600 and every directory 0700. `hub start` and `agent start` name a loose
// file or directory on standard error and in the log, with its fix, and start anyway.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, CliProcess, canConnect, freePorts, waitFor } from '../harness/cluster.js';

// Every process this file starts inherits the umask: 000, the most permissive there is.
process.umask(0o000);

/** Every file and directory under `root` (itself included) whose mode is not the private one. */
function looseEntries(root: string): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    const stats = lstatSync(path);
    const mode = stats.mode & 0o777;
    if (stats.isDirectory()) {
      if (mode !== 0o700) found.push(`${path} ${mode.toString(8)}`);
      for (const name of readdirSync(path)) walk(join(path, name));
    } else if (mode !== 0o600) found.push(`${path} ${mode.toString(8)}`);
  };
  walk(root);
  return found;
}

function listAll(root: string): string[] {
  const names: string[] = [];
  const walk = (path: string, prefix: string) => {
    for (const name of readdirSync(path)) {
      names.push(prefix + name);
      if (lstatSync(join(path, name)).isDirectory()) walk(join(path, name), `${prefix}${name}/`);
    }
  };
  walk(root, '');
  return names;
}

describe('file modes', () => {
  let cluster: Cluster;

  before(async () => {
    cluster = new Cluster();
    for (const dir of [cluster.hubDir, cluster.agentDir, cluster.techHome]) {
      mkdirSync(dir, { mode: 0o755 });
      assert.equal(lstatSync(dir).mode & 0o777, 0o755);
    }
  });

  after(async () => {
    await cluster?.close();
  });

  test('the CLI runs under umask 000 in this test', () => {
    assert.equal(execFileSync('sh', ['-c', 'umask'], { encoding: 'utf8' }).trim(), '0000');
  });

  test('hub init into a directory made with mkdir -m 755 tightens it and leaves every key 0600', async () => {
    const [stationPort = 0, apiPort = 0] = await freePorts(2);
    cluster.stationPort = stationPort;
    cluster.apiPort = apiPort;
    const init = await cluster.cli([
      'hub',
      'init',
      '--data',
      cluster.hubDir,
      '--listen',
      `127.0.0.1:${stationPort}`,
      '--api-listen',
      `127.0.0.1:${apiPort}`,
    ]);
    assert.match(init.stdout, /data directory {2}now 0700 \(it was 0755\)/);
    assert.deepEqual(looseEntries(cluster.hubDir), []);
    for (const key of ['ca-key.pem', 'server-key.pem', 'ticket-key.pem', 'fix-key.pem', 'metrics-token'])
      assert.ok(listAll(cluster.hubDir).includes(key), key);
  });

  test('the hub runs with no warning and its database, WAL and shared memory are 0600', async () => {
    await cluster.startHub();
    await cluster.addUser('tech', 'tech-password-1');
    const names = listAll(cluster.hubDir);
    for (const name of ['hub.db', 'hub.db-wal', 'hub.db-shm']) assert.ok(names.includes(name), name);
    assert.deepEqual(looseEntries(cluster.hubDir), []);
    assert.doesNotMatch(cluster.hub?.stderr ?? '', /warning/);
  });

  test('agent enroll into a directory made with mkdir -m 755 tightens it and leaves every file 0600', async () => {
    const tokenFile = join(cluster.root, 'token');
    // An existing token file with a loose mode is written over, and loses the mode.
    writeFileSync(tokenFile, 'old', { mode: 0o644 });
    await cluster.cli(['hub', 'token', 'create', '--data', cluster.hubDir, '--out', tokenFile]);
    assert.equal(lstatSync(tokenFile).mode & 0o777, 0o600);
    const enrolled = await cluster.cli([
      'agent',
      'enroll',
      '--data',
      cluster.agentDir,
      '--token-file',
      tokenFile,
    ]);
    assert.match(
      enrolled.stdout,
      new RegExp(`The data directory ${cluster.agentDir} is now 0700 \\(it was 0755\\)`),
    );
    cluster.stationId = /Station ID: (\S+)/.exec(enrolled.stdout)?.[1] ?? '';
    const names = listAll(cluster.agentDir);
    for (const name of ['station-key.pem', 'admin-token', 'agent.db', 'agent.yaml'])
      assert.ok(names.includes(name), name);
    assert.deepEqual(looseEntries(cluster.agentDir), []);
  });

  test('after a report with a file, a fix and a login, every file is 0600 and every directory 0700', async () => {
    await cluster.startAgent();
    assert.doesNotMatch(cluster.agent?.stderr ?? '', /warning/);
    const attachment = join(cluster.root, 'logs.bin');
    writeFileSync(attachment, randomBytes(300_000));
    const opened = await cluster.cli([
      'agent',
      'problem',
      'open',
      '--summary',
      'Fan 3 failed',
      '--severity',
      'major',
      '--attach',
      attachment,
      '--data',
      cluster.agentDir,
    ]);
    assert.match(opened.stdout, /Uploaded logs.bin to the hub/);

    const fixFile = join(cluster.root, 'fix.bin');
    writeFileSync(fixFile, randomBytes(50_000));
    await cluster.cli([
      'hub',
      'fix',
      'publish',
      fixFile,
      '--name',
      'fw',
      '--version',
      '1.0',
      '--data',
      cluster.hubDir,
    ]);
    const fixesOut = join(cluster.root, 'downloads', 'fixes');
    await cluster.cli(['agent', 'fix', 'download', 'fw', '--out', fixesOut, '--data', cluster.agentDir]);

    const login = await cluster.login('tech', 'tech-password-1');
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stderr, new RegExp(`note: ${cluster.techHome} is now 0700 \\(it was 0755\\)`));

    const hubNames = listAll(cluster.hubDir);
    assert.ok(
      hubNames.some((name) => name.startsWith(`attachments/${cluster.stationId}/`)),
      hubNames.join(' '),
    );
    assert.ok(
      hubNames.some((name) => name.startsWith('fixes/fw/1.0/')),
      hubNames.join(' '),
    );
    assert.ok(listAll(cluster.agentDir).includes('attachments'));
    assert.ok(listAll(cluster.techHome).includes('credentials.json'));
    assert.deepEqual(looseEntries(cluster.hubDir), []);
    assert.deepEqual(looseEntries(cluster.agentDir), []);
    assert.deepEqual(looseEntries(cluster.techHome), []);
    // The fix was downloaded into a directory the command made: 0700, the fix in it 0600.
    assert.deepEqual(looseEntries(join(cluster.root, 'downloads')), []);
  });

  test('agent start and hub start name each loose path with its mode and fix, and run anyway', async () => {
    await cluster.stopAgent();
    await cluster.stopHub();
    const agentDb = join(cluster.agentDir, 'agent.db');
    const hubDb = join(cluster.hubDir, 'hub.db');
    chmodSync(cluster.agentDir, 0o755);
    chmodSync(agentDb, 0o644);
    chmodSync(hubDb, 0o640);

    await cluster.startHub();
    await cluster.startAgent();
    const agentErr = cluster.agent?.stderr ?? '';
    assert.match(
      agentErr,
      lineOf(
        `warning: ${cluster.agentDir} is 0755: other local users have access to it (Lifeline makes it 0700); fix: chmod 700 ${cluster.agentDir}`,
      ),
    );
    assert.match(
      agentErr,
      lineOf(
        `warning: ${agentDb} is 0644: other local users have access to it (Lifeline makes it 0600); fix: chmod 600 ${agentDb}`,
      ),
    );
    assert.match(
      cluster.hub?.stderr ?? '',
      lineOf(
        `warning: ${hubDb} is 0640: other local users have access to it (Lifeline makes it 0600); fix: chmod 600 ${hubDb}`,
      ),
    );
    // The log has each too, as a warning with the path, the mode and the fix.
    const logged = (cluster.agent?.stdout ?? '')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; path?: string; mode?: string; fix?: string });
    assert.ok(
      logged.some(
        (e) => e.level === 40 && e.path === agentDb && e.mode === '0644' && e.fix === `chmod 600 ${agentDb}`,
      ),
      JSON.stringify(logged.filter((e) => e.level === 40)),
    );
    // Not fatal: the agent answers, and nothing was changed behind the operator's back.
    await cluster.agentStatus();
    assert.equal(lstatSync(agentDb).mode & 0o777, 0o644);

    // Fixed as told, the next start is quiet.
    await cluster.stopAgent();
    chmodSync(cluster.agentDir, 0o700);
    chmodSync(agentDb, 0o600);
    const quiet = cluster.track(
      new CliProcess([
        'agent',
        'start',
        '--data',
        cluster.agentDir,
        '--admin-listen',
        `127.0.0.1:${cluster.adminPort}`,
      ]),
    );
    await waitFor('the agent to listen again', () => canConnect(cluster.adminPort));
    assert.doesNotMatch(quiet.stderr, /warning/);
    await quiet.stop();
  });
});

/** A regular expression matching `line` as a whole line. */
function lineOf(line: string): RegExp {
  return new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm');
}
