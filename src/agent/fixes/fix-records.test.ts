// What the appliance keeps of a fix event: its audit entry and, for a download, the list entry,
// written together or not at all.

import { after, afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AgentStore, type AuditWith } from '../store/index.js';
import { listFixDownloads, recordFixEvent, type FixEvent } from './fix-records.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-fix-records-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
let path: string;
let store: AgentStore;
let nowMs = 1_750_000_000_000;

beforeEach(async () => {
  path = join(dir, `agent-${++files}.db`);
  store = await AgentStore.open(path);
});
afterEach(() => store.close());

const record = (event: FixEvent) =>
  recordFixEvent(
    (action: string, detail: Record<string, unknown>, with_: AuditWith) =>
      store.appendAudit({ atMs: ++nowMs, actor: 'admin@cli', action, detail }, with_),
    event,
  );

const downloaded = (version: string, path = '/srv/fixes/bmc.bin'): FixEvent => ({
  event: 'downloaded',
  name: 'bmc-fw',
  version,
  size: 10,
  sha256: 'a'.repeat(64),
  path,
  resumedFromBytes: 0,
});

test('a download is audited and remembered first, at its entry time; the same one again replaces it', async () => {
  await record(downloaded('1.0.0'));
  await record(downloaded('2.0.0'));
  await record(downloaded('1.0.0'));
  const entries = await store.listAudit();
  assert.deepEqual(
    entries.map((e) => [e.action, e.detail.version]),
    [
      ['fix.downloaded', '1.0.0'],
      ['fix.downloaded', '2.0.0'],
      ['fix.downloaded', '1.0.0'],
    ],
  );
  const list = await listFixDownloads(store);
  assert.deepEqual(
    list.map((d) => [d.version, d.atMs]),
    [
      ['1.0.0', entries[2]?.atMs],
      ['2.0.0', entries[1]?.atMs],
    ],
  );
});

test('a refusal is audited, not remembered as a download', async () => {
  await record({
    event: 'refused',
    name: 'bmc-fw',
    code: 'CALLHOME_FIX_UNVERIFIED',
    reason: 'bad signature',
  });
  assert.deepEqual(
    (await store.listAudit()).map((e) => [e.action, e.detail]),
    [['fix.refused', { name: 'bmc-fw', code: 'CALLHOME_FIX_UNVERIFIED', reason: 'bad signature' }]],
  );
  assert.deepEqual(await listFixDownloads(store), []);
});

test('a download whose entry cannot be written is not remembered either', async () => {
  const db = new Database(path);
  db.exec("create trigger refuse_audit before insert on audit begin select raise(abort, 'refused'); end");
  db.close();
  await assert.rejects(record(downloaded('1.0.0')), /refused/);
  assert.deepEqual(await listFixDownloads(store), []);
});
