import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import { openSqliteHubStore } from '../store/index.js';
import { type HubStore } from '../store/index.js';
import { HubAudit } from '../audit/index.js';
import { TunnelJournal } from './tunnel-journal.js';

const logger = createLogger({ name: 'test', level: 'silent' });

describe('tunnel journal', () => {
  let dir: string;
  let store: HubStore;
  let clock: ManualClock;
  let journal: TunnelJournal;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeline-journal-'));
    store = await openSqliteHubStore(join(dir, 'hub.db'));
    clock = new ManualClock();
    for (const id of ['ST-0000-0001', 'ST-0000-0002']) {
      await store.addStation({
        id,
        name: id,
        enrolledAtMs: clock.now(),
        certNotAfterMs: clock.now() + 86_400_000,
        lastSeenAtMs: null,
        connectedSinceMs: null,
        revokedAtMs: null,
      });
    }
    journal = new TunnelJournal({
      store,
      nodeId: 'node-test',
      audit: new HubAudit(store, clock, logger),
      clock,
      logger,
    });
  });

  afterEach(async () => {
    await journal.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('changes reach the store on flush, in order, with their audit entries', async () => {
    journal.connected('ST-0000-0001', '127.0.0.1');
    clock.advance(1000);
    journal.connected('ST-0000-0002', '127.0.0.2');
    clock.advance(1000);
    journal.disconnected('ST-0000-0002', 'tunnel closed');
    assert.equal((await store.listAudit()).length, 0, 'nothing written before the batch');
    await journal.flush();
    const one = await store.getStation('ST-0000-0001');
    const two = await store.getStation('ST-0000-0002');
    assert.equal(one?.connectedSinceMs, clock.now() - 2000);
    assert.equal(two?.connectedSinceMs, null, 'connected then disconnected in one batch ends disconnected');
    assert.equal(two?.lastSeenAtMs, clock.now());
    const audit = await store.listAudit();
    assert.deepEqual(
      audit.map((e) => [e.action, e.stationId, e.atMs - clock.now(), e.detail]),
      [
        ['tunnel.connected', 'ST-0000-0001', -2000, { remote: '127.0.0.1' }],
        ['tunnel.connected', 'ST-0000-0002', -1000, { remote: '127.0.0.2' }],
        ['tunnel.disconnected', 'ST-0000-0002', 0, { reason: 'tunnel closed' }],
      ],
    );
  });

  test('a batch is written by itself within the flush interval, and close writes the rest', async () => {
    journal.connected('ST-0000-0001', '127.0.0.1');
    // The 200 ms timer, on the real clock.
    const deadline = Date.now() + 5000;
    while ((await store.listAudit()).length === 0 && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 20));
    }
    assert.equal((await store.listAudit()).length, 1);
    journal.disconnected('ST-0000-0001', 'tunnel closed');
    await journal.close();
    journal.connected('ST-0000-0001', '127.0.0.1'); // after close: logged only
    await journal.flush();
    assert.deepEqual(
      (await store.listAudit()).map((e) => e.action),
      ['tunnel.connected', 'tunnel.disconnected'],
    );
    assert.equal((await store.getStation('ST-0000-0001'))?.connectedSinceMs, null);
  });

  test('a thousand changes cost one transaction each batch, not two commits each', async () => {
    const started = Date.now();
    for (let i = 0; i < 1000; i += 1) journal.connected(i % 2 ? 'ST-0000-0001' : 'ST-0000-0002', '127.0.0.1');
    await journal.flush();
    assert.equal((await store.listAudit()).length, 1000);
    // Two fsync'd commits per change took seconds for 1,000; batches take a fraction of that.
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
  });
});
