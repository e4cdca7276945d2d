// The audit log end to end: checkpoints at the hub, `audit --verify` catching any changed,
// deleted, swapped or cut-off entry, the hub noticing a rolled-back log, and syslog export.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, rmSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Cluster, runCli, waitFor } from './harness/cluster.js';

interface HubAuditLine {
  action: string;
  stationId: string | null;
}

describe('audit log', () => {
  let cluster: Cluster;
  const syslogLines: string[] = [];
  const syslog = createSocket('udp4');
  let pristine: string;
  let database: string;

  const verify = () => runCli(['agent', 'audit', '--verify', '--data', cluster.agentDir]);
  const hubCheckpointCount = async (): Promise<number> => {
    const result = await cluster.cli(['hub', 'audit', '--json', '--data', cluster.hubDir]);
    return (JSON.parse(result.stdout) as HubAuditLine[]).length;
  };

  /** Replaces the agent's database with the untouched copy, then applies `tamper` to it. */
  function tamperWith(tamper: (db: Database.Database) => void): void {
    for (const suffix of ['', '-wal', '-shm']) rmSync(database + suffix, { force: true });
    copyFileSync(pristine, database);
    const db = new Database(database);
    tamper(db);
    db.close();
  }

  before(async () => {
    syslog.on('message', (message) => syslogLines.push(message.toString('utf8')));
    await new Promise<void>((done) => syslog.bind(0, '127.0.0.1', done));
    cluster = new Cluster();
    await cluster.initHub();
    await cluster.startHub();
    await cluster.addUser('tech', 'tech-password-1');
    await cluster.enroll();
    appendFileSync(
      join(cluster.agentDir, 'agent.yaml'),
      `audit:\n  checkpointEntries: 5\n  syslog:\n    transport: udp\n    address: 127.0.0.1:${syslog.address().port}\n`,
    );
    await cluster.startAgent();
    for (const level of ['full', 'none', 'restricted', 'full', 'none', 'full']) {
      await cluster.cli(['agent', 'access', level, '--data', cluster.agentDir]);
    }
    await cluster.cli(['agent', 'acl', 'add', '--technician', 'tech', '--data', cluster.agentDir]);
    await cluster.stopAgent();
    database = join(cluster.agentDir, 'agent.db');
    pristine = join(cluster.root, 'agent.db.pristine');
    copyFileSync(database, pristine);
  });

  after(async () => {
    await cluster?.close();
    syslog.close();
  });

  test('an untouched log verifies and matches the checkpoint the hub holds', async () => {
    const result = await verify();
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /Audit log chain verified: \d+ entries/);
    assert.match(result.stdout, /Matches the hub's checkpoint of \d+ entries/);
  });

  test('every audit entry went to syslog in RFC 5424 form', () => {
    assert.ok(syslogLines.length >= 8, `${syslogLines.length} syslog messages`);
    for (const line of syslogLines) {
      assert.match(
        line,
        /^<\d{1,3}>1 \d{4}-\d\d-\d\dT[\d:.]+Z \S+ lifeline-agent - \S+ \[lifeline@32473 seq="\d+" /,
      );
    }
    assert.ok(syslogLines.some((line) => / setting\.access \[/.test(line)));
  });

  for (const [name, tamper, seq] of [
    [
      'a changed entry',
      (db: Database.Database) =>
        db.prepare('update audit set detail = \'{"to":"full"}\' where seq = 5').run(),
      5,
    ],
    [
      'a changed actor',
      (db: Database.Database) => db.prepare("update audit set actor = 'someone-else' where seq = 3").run(),
      3,
    ],
    ['a deleted entry', (db: Database.Database) => db.prepare('delete from audit where seq = 4').run(), 5],
    [
      'two swapped entries',
      (db: Database.Database) => {
        const a = db.prepare('select * from audit where seq = 4').get() as Record<string, unknown>;
        const b = db.prepare('select * from audit where seq = 6').get() as Record<string, unknown>;
        const put = db.prepare(
          'update audit set at = ?, actor = ?, action = ?, detail = ?, prev_hash = ?, hash = ? where seq = ?',
        );
        put.run(b.at, b.actor, b.action, b.detail, b.prev_hash, b.hash, 4);
        put.run(a.at, a.actor, a.action, a.detail, a.prev_hash, a.hash, 6);
      },
      4,
    ],
  ] as const) {
    test(`audit --verify fails on ${name}, naming the entry`, async () => {
      tamperWith(tamper);
      const result = await verify();
      assert.equal(result.code, 1, result.stdout);
      assert.match(result.stdout, new RegExp(`FAILED verification at entry ${seq}:`));
    });
  }

  test("a log cut short is caught against the hub's checkpoint, and the hub notices, even once it grows again", async () => {
    tamperWith((db) => {
      const last = (db.prepare('select max(seq) as n from audit').get() as { n: number }).n;
      db.prepare('delete from audit where seq > ?').run(last - 6);
    });
    const result = await verify();
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, /Audit log chain verified/);
    assert.match(result.stdout, /FAILED against the hub's checkpoint/);

    const before = await hubCheckpointCount();
    await cluster.startAgent();
    // Growing the log past the hub's count again does not hide the rollback.
    for (let i = 0; i < 10; i++) await cluster.admin('PUT', '/v1/access', { level: i % 2 ? 'full' : 'none' });
    await waitFor('the hub to notice', async () => {
      const result = await cluster.cli(['hub', 'audit', '--json', '--data', cluster.hubDir]);
      const lines = JSON.parse(result.stdout) as HubAuditLine[];
      return lines.length > before &&
        lines.some((l) => l.action === 'audit.rollback-detected' && l.stationId === cluster.stationId)
        ? true
        : undefined;
    });
    const report = (await cluster.admin('GET', '/v1/audit/verify')) as {
      ok: boolean;
      hub: { compared: boolean; ok?: boolean; message?: string };
    };
    assert.equal(report.ok, false);
    assert.equal(report.hub.compared, true);
    assert.match(report.hub.message ?? '', /shorter|checkpoint|entries/);
    await cluster.stopAgent();
  });
});
