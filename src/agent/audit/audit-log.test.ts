// The agent's audit log fails closed on a full store, with STORE_FULL: a real agent.db at its size
// limit (SQLite raises SQLITE_FULL for real), then room again.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { systemClock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { AgentStore } from '../store/index.js';
import { AuditLog } from './audit-log.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-audit-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

async function openLog(maxBytes?: number) {
  const path = join(dir, `agent-${++files}.db`);
  const store = await AgentStore.open(path, maxBytes === undefined ? {} : { maxBytes });
  const audit = new AuditLog(store, systemClock, silentLogger());
  const failures: unknown[] = [];
  audit.onFailure = (err) => failures.push(err);
  const health: boolean[] = [];
  audit.onHealthChange((healthy) => health.push(healthy));
  return { path, store, audit, failures, health };
}

describe('the audit log on a full store', () => {
  test('fails closed with STORE_FULL (not as a decision), and is healthy again once an entry fits', async () => {
    const { path, store, audit, failures, health } = await openLog(512 * 1024);
    let refusal: unknown;
    for (let n = 0; n < 200 && refusal === undefined; n++) {
      await audit.record('agent', 'test.filler', { n, text: 'x'.repeat(30_000) }).catch((err: unknown) => {
        refusal = err;
      });
    }
    assert.ok(refusal instanceof LifelineError, `got ${String(refusal)}`);
    assert.equal(refusal.code, 'STORE_FULL');
    assert.match(
      refusal.message,
      /^the audit log cannot be written \(the database is full: .*agent-\d+\.db reached its size limit/,
    );
    assert.equal(audit.healthy, false);
    assert.equal(failures.length, 1, 'sessions are ended once, when the log stops being writable');
    // Refused again while full: failing closed is not repeated.
    await assert.rejects(
      audit.record('agent', 'test.again', { text: 'x'.repeat(30_000) }),
      /STORE_FULL|cannot be written/,
    );
    assert.equal(failures.length, 1);

    // Room again (old entries are not deletable through the store: another connection makes room
    // the way a purge would), and the next entry is written.
    const other = new Database(path);
    other.exec("delete from audit where action = 'test.filler' and seq > 2");
    other.close();
    await audit.record('agent', 'audit.resumed', {});
    assert.equal(audit.healthy, true);
    assert.deepEqual(health, [false, true], 'the status pages hear of each change once');
    await store.close();
  });

  test('another storage failure fails closed with STORE_FAILED; a refusal decided in the write does not fail it', async () => {
    const { path, store, audit, failures } = await openLog();
    const first = await audit.record(
      'agent',
      'first',
      {},
      { nonce: { jti: 'n1', expiresAtMs: Date.now() + 60_000 } },
    );
    assert.equal(first.seq, 1);
    await assert.rejects(
      audit.record('agent', 'replay', {}, { nonce: { jti: 'n1', expiresAtMs: Date.now() + 60_000 } }),
      (err: unknown) => err instanceof LifelineError && err.code === 'TICKET_REPLAYED',
    );
    assert.equal(audit.healthy, true);
    assert.deepEqual(failures, []);

    const other = new Database(path);
    other.exec(
      `create trigger audit_refused before insert on audit begin select raise(abort, 'no room'); end`,
    );
    await assert.rejects(
      audit.record('agent', 'refused', {}),
      (err: unknown) => err instanceof LifelineError && err.code === 'STORE_FAILED',
    );
    assert.equal(audit.healthy, false);
    assert.equal(failures.length, 1);
    other.exec('drop trigger audit_refused');
    other.close();
    await store.close();
  });
});
