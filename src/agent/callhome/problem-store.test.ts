import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { openAgentDatabase, type AgentDatabase } from '../store/index.js';
import { ProblemStore } from './problem-store.js';

const t0 = 1_750_000_000_000;
const dir = mkdtempSync(join(tmpdir(), 'lifeline-problem-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

describe('ProblemStore', () => {
  let db: Kysely<AgentDatabase>;
  let store: ProblemStore;
  const base = { summary: 'Fan 3 failed', severity: 'major', openReportId: 'r1', nowMs: t0 };

  beforeEach(async () => {
    db = await openAgentDatabase(join(dir, `p-${++files}.db`));
    store = new ProblemStore(db);
  });
  afterEach(async () => {
    await db.destroy();
  });

  test('a problem is stored with its system and read back; the list is newest first', async () => {
    await store.insert({
      ...base,
      localId: 'PB-AAAAAA',
      referenceCode: 'E1',
      system: { serial: 'SN-1', model: 'X' },
    });
    await store.insert({ ...base, localId: 'PB-BBBBBB', nowMs: t0 + 1 });
    const a = await store.get('PB-AAAAAA');
    assert.deepEqual(a, {
      localId: 'PB-AAAAAA',
      summary: 'Fan 3 failed',
      severity: 'major',
      referenceCode: 'E1',
      system: { serial: 'SN-1', type: null, model: 'X' },
      state: 'open',
      openedAtMs: t0,
      updatedAtMs: t0,
      closedAtMs: null,
      lastReportedAtMs: t0,
      occurrences: 1,
      vendorNumber: null,
      openReportId: 'r1',
    });
    assert.deepEqual(
      (await store.list()).map((p) => p.localId),
      ['PB-BBBBBB', 'PB-AAAAAA'],
    );
    assert.equal(await store.get('PB-CCCCCC'), undefined);
  });

  test('findRecurrence matches code and serial as given (no serial matches no serial), open and recent only', async () => {
    await store.insert({ ...base, localId: 'PB-AAAAAA', referenceCode: 'E1', system: { serial: 'SN-1' } });
    await store.insert({ ...base, localId: 'PB-BBBBBB', referenceCode: 'E1' });
    assert.equal((await store.findRecurrence('E1', 'SN-1', t0))?.localId, 'PB-AAAAAA');
    assert.equal((await store.findRecurrence('E1', null, t0))?.localId, 'PB-BBBBBB');
    assert.equal(await store.findRecurrence('E1', 'sn-1', t0), undefined);
    assert.equal(await store.findRecurrence('E2', 'SN-1', t0), undefined);
    assert.equal(await store.findRecurrence('E1', 'SN-1', t0 + 1), undefined, 'outside the window');
    assert.equal(await store.recordOccurrence('PB-AAAAAA', t0 + 5), 2);
    assert.equal((await store.findRecurrence('E1', 'SN-1', t0 + 5))?.occurrences, 2);
    await store.close('PB-AAAAAA', t0 + 6);
    assert.equal(await store.findRecurrence('E1', 'SN-1', t0), undefined, 'closed');
    const closed = await store.get('PB-AAAAAA');
    assert.equal(closed?.state, 'closed');
    assert.equal(closed?.closedAtMs, t0 + 6);
  });

  test('the vendor number is recorded once', async () => {
    await store.insert({ ...base, localId: 'PB-AAAAAA' });
    await store.insert({ ...base, localId: 'PB-BBBBBB', openReportId: 'r2' });
    assert.equal(await store.setVendorNumber('PB-AAAAAA', 'P-000001'), true);
    assert.equal(await store.setVendorNumber('PB-AAAAAA', 'P-000009'), false);
    assert.equal((await store.get('PB-AAAAAA'))?.vendorNumber, 'P-000001');
    assert.deepEqual(await store.withoutVendorNumber(), [{ localId: 'PB-BBBBBB', openReportId: 'r2' }]);
  });
});
