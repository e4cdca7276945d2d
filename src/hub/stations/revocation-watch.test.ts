import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import { openSqliteHubStore } from '../store/index.js';
import { type HubStore } from '../store/index.js';
import { RevocationWatch } from './revocation-watch.js';

const logger = createLogger({ name: 'test', level: 'silent' });
let dir: string;
let store: HubStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lifeline-revocation-'));
  store = await openSqliteHubStore(join(dir, 'hub.db'));
  for (const id of ['ST-AAAA-AAAA-A', 'ST-BBBB-BBBB-B']) {
    await store.addStation({
      id,
      name: id,
      enrolledAtMs: 0,
      certNotAfterMs: 1000,
      lastSeenAtMs: null,
      connectedSinceMs: null,
      revokedAtMs: null,
    });
  }
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('revocation is recorded once; renewal of a revoked station is not', async () => {
  assert.equal(await store.trust.revokeStation('ST-AAAA-AAAA-A', 5000), 'revoked');
  assert.equal(await store.trust.revokeStation('ST-AAAA-AAAA-A', 6000), 'already');
  assert.equal(await store.trust.revokeStation('ST-ZZZZ-ZZZZ-Z', 6000), 'unknown');
  assert.equal((await store.getStation('ST-AAAA-AAAA-A'))?.revokedAtMs, 5000);
  assert.equal(await store.trust.recordRenewal('ST-AAAA-AAAA-A', 9000), false);
  assert.equal(await store.trust.recordRenewal('ST-BBBB-BBBB-B', 9000), true);
  assert.equal((await store.getStation('ST-BBBB-BBBB-B'))?.certNotAfterMs, 9000);
  assert.deepEqual(await store.trust.listRevoked(), [{ id: 'ST-AAAA-AAAA-A', revokedAtMs: 5000 }]);
  assert.deepEqual(await store.trust.listRevoked(5001), []);
});

test('each look closes the stations revoked since the last one, each once', async () => {
  const clock = new ManualClock(100_000);
  const closed: string[] = [];
  const watch = new RevocationWatch({
    store,
    clock,
    logger,
    closer: {
      closeStation: (id, reason) => {
        closed.push(`${id} ${reason}`);
        return 1;
      },
    },
  });
  assert.deepEqual(await watch.check(), []);
  // Written by another process whose clock is a little behind.
  await store.trust.revokeStation('ST-BBBB-BBBB-B', 99_000);
  clock.advance(500);
  assert.deepEqual(await watch.check(), ['ST-BBBB-BBBB-B']);
  assert.deepEqual(await watch.check(), []);
  assert.deepEqual(closed, ['ST-BBBB-BBBB-B this station is revoked']);
  await watch.close();
});

test('a running watch acts within a second', async () => {
  const closedAt: number[] = [];
  const watch = new RevocationWatch({
    store,
    clock: { now: () => Date.now() },
    logger,
    closer: { closeStation: () => closedAt.push(Date.now()) },
  });
  watch.start();
  const revokedAtMs = Date.now();
  await store.trust.revokeStation('ST-AAAA-AAAA-A', revokedAtMs);
  const deadline = Date.now() + 3000;
  while (closedAt.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await watch.close();
  assert.equal(closedAt.length, 1);
  assert.ok((closedAt[0] ?? Infinity) - revokedAtMs < 1000);
});
