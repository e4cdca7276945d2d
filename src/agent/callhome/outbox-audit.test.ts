// Deliveries and their audit entries commit together: against the agent's real store (SQLite), an
// outbox recording through the agent's audit log, and a stand-in hub.

import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { systemClock } from '../../common/clock.js';
import { silentLogger } from '../../common/logger.js';
import type { ReportBatchAnswer, ReportEnvelope } from '../../protocol/index.js';
import { AgentStore } from '../store/index.js';
import { OutboxStore } from './outbox-store.js';
import { AuditLog } from '../audit/index.js';
import { Outbox, type Deliver } from './outbox.js';
import { auditEntryHash, genesisHash, type AuditEntry } from '../../protocol/index.js';
import { settlementRecorder } from './settlement-audit.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-outbox-audit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** Answers every report of a batch: 422 for a payload marked bad, 201 otherwise. */
const hub: Deliver = (body) => {
  const envelopes = body.split('\n').map((line) => JSON.parse(line) as ReportEnvelope);
  const results: ReportBatchAnswer['results'] = envelopes.map((envelope) =>
    envelope.payload.bad
      ? { id: envelope.id, status: 422, answer: { code: 'CALLHOME_REPORT_INVALID', message: 'bad' } }
      : { id: envelope.id, status: 201, answer: { stored: true, duplicate: false } },
  );
  return Promise.resolve({ status: 200, answer: JSON.stringify({ results }) });
};

describe('outbox settlements and the audit log', () => {
  let path: string;
  let store: AgentStore;
  let audit: AuditLog;
  let outbox: Outbox;
  let failures: unknown[];

  beforeEach(async () => {
    path = join(dir, `agent-${++files}.db`);
    store = await AgentStore.open(path);
    audit = new AuditLog(store, systemClock, silentLogger());
    failures = [];
    audit.onFailure = (err) => failures.push(err);
    outbox = new Outbox({
      store: new OutboxStore(store.db),
      deliver: () => Promise.reject(new Error('single delivery is not used with batches')),
      deliverBatch: hub,
      clock: systemClock,
      logger: silentLogger(),
      minRetryMs: 5,
      maxRetryMs: 20,
      recordSettled: settlementRecorder(audit),
    });
  });
  afterEach(async () => {
    await outbox.close();
    await store.close();
  });

  async function until(check: () => Promise<boolean>, what: string): Promise<void> {
    for (let i = 0; i < 500; i++) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.fail(`${what} did not happen`);
  }

  function assertChained(entries: AuditEntry[]): void {
    let previous = genesisHash;
    for (const entry of entries) {
      assert.equal(entry.prevHash, previous, `entry ${entry.seq} follows the one before`);
      const { hash, ...unhashed } = entry;
      assert.equal(hash, auditEntryHash(unhashed));
      previous = hash;
    }
  }

  test('a delivery is audited in its commit, naming every report; listeners hear of it after the commit', async () => {
    // Read through a connection of its own, which sees committed rows only: the reports an entry
    // names are already sent there when the entry reaches a listener.
    const reader = new Database(path, { readonly: true });
    const sentNow = reader.prepare("select count(*) as n from outbox where state = 'sent'");
    const heard: Array<{ action: string; sentThen: number }> = [];
    audit.onEntry((entry) =>
      heard.push({ action: entry.action, sentThen: (sentNow.get() as { n: number }).n }),
    );
    const good = await Promise.all(
      Array.from({ length: 7 }, (_, n) => outbox.accept('generic', { type: 'test', n })),
    );
    const bad = await outbox.accept('generic', { type: 'test', bad: true });
    outbox.start();
    await until(async () => (await store.listAudit()).length >= 2, 'the audit entries');

    const entries = await store.listAudit();
    const sent = entries.find((entry) => entry.action === 'callhome.sent');
    const rejected = entries.find((entry) => entry.action === 'callhome.rejected');
    assert.deepEqual(sent?.detail, {
      count: 7,
      reports: good.map((report) => ({ id: report.id, status: 201 })),
    });
    assert.deepEqual(rejected?.detail, { count: 1, reports: [{ id: bad.id, status: 422 }] });
    assertChained(entries);
    // Published once the commit is on disk, which may be after the poll above saw the entries.
    await until(() => Promise.resolve(heard.length === 2), 'both entries reaching the listener');
    assert.deepEqual(heard.map((h) => h.action).sort(), ['callhome.rejected', 'callhome.sent']);
    for (const { sentThen } of heard) assert.equal(sentThen, 7);
    reader.close();
  });

  test('when the entry cannot be written, the settlement does not commit either, and is sent again later', async () => {
    // Another connection to the same file makes every audit insert fail, as a full disk would.
    const other = new Database(path);
    other.exec(
      `create trigger audit_refused before insert on audit begin select raise(abort, 'no room'); end`,
    );
    const reports = await Promise.all(
      Array.from({ length: 3 }, (_, n) => outbox.accept('generic', { type: 'test', n })),
    );
    outbox.start();
    await until(() => Promise.resolve(failures.length > 0), 'the audit failure');
    assert.equal(audit.healthy, false);
    assert.equal((await outbox.store.counts()).sent, 0, 'no report marked sent without its entry');
    assert.equal((await outbox.store.listTransmissions({ limit: 10 })).length, 0);

    other.exec('drop trigger audit_refused');
    other.close();
    await until(async () => (await outbox.store.counts()).sent === 3, 'the reports sent again');
    const entries = (await store.listAudit()).filter((entry) => entry.action === 'callhome.sent');
    assert.deepEqual(
      entries.flatMap((entry) => (entry.detail.reports as Array<{ id: string }>).map((r) => r.id)).sort(),
      reports.map((report) => report.id).sort(),
    );
    assert.equal(audit.healthy, true);
  });
});
