import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import { openSqliteHubStore } from '../store/index.js';
import { type HubStore } from '../store/index.js';
import { HubAudit } from '../audit/index.js';
import { UserWatch } from './user-watch.js';

let root: string;
let store: HubStore;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'lifeline-user-watch-'));
  store = await openSqliteHubStore(join(root, 'hub.db'));
  for (const name of ['ana', 'bob']) {
    await store.addUser({ name, passwordHash: 'x', groups: [], createdAtMs: 0, disabledAtMs: null });
  }
});

after(async () => {
  await store?.close();
  rmSync(root, { recursive: true, force: true });
});

test('a user disabled in the store (by another process) has sessions ended and logins forgotten', async () => {
  const logger = createLogger({ name: 'test', level: 'silent' });
  const forgotten: string[] = [];
  const endCalls: string[][] = [];
  /** Sessions still live per user, as the broker would hold them. */
  const live = new Map([
    ['ana', 2],
    ['bob', 1],
  ]);
  const watch = new UserWatch({
    store,
    audit: new HubAudit(store, systemClock, logger),
    logger,
    forgetUser: (name) => forgotten.push(name),
    endUserSessions: (names) => {
      endCalls.push([...names]);
      const ended = new Map<string, number>();
      for (const name of names) {
        const count = live.get(name) ?? 0;
        if (count > 0) ended.set(name, count);
        live.delete(name);
      }
      return ended;
    },
    intervalMs: 20,
  });
  await watch.poll();
  assert.deepEqual([...forgotten], []);
  assert.deepEqual([...endCalls], [], 'nobody is disabled: nothing to end');

  const disabledAtMs = Date.now();
  await store.userSecurity.disableUser('ana', disabledAtMs);
  watch.start();
  const startedMs = Date.now();
  while (live.has('ana') && Date.now() - startedMs < 5000) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(live.has('ana'), false, 'the watch ended ana’s sessions');
  assert.equal(live.get('bob'), 1, 'bob keeps his');
  assert.deepEqual([...forgotten], ['ana'], 'forgotten once, when first seen disabled');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual([...forgotten], ['ana']);
  assert.ok(endCalls.length >= 2, 'the disabled users are looked at on every poll');
  await watch.close();

  const entries = (await store.listAudit()).filter((e) => e.action === 'user.sessions-ended');
  assert.deepEqual(
    entries.map((e) => e.detail),
    [{ user: 'ana', sessions: 2, endReason: 'user-disabled' }],
    'audited once, with the number of sessions ended',
  );

  // Enabled and disabled again: seen as newly disabled (a fresh watch, polled by hand).
  const again = new UserWatch({
    store,
    audit: new HubAudit(store, systemClock, logger),
    logger,
    forgetUser: (name) => forgotten.push(name),
    endUserSessions: () => new Map(),
  });
  await again.poll();
  assert.deepEqual([...forgotten], ['ana', 'ana'], 'a new watch forgets the disabled users it finds');
  await store.userSecurity.enableUser('ana');
  await again.poll();
  await store.userSecurity.disableUser('ana', Date.now());
  await again.poll();
  assert.deepEqual([...forgotten], ['ana', 'ana', 'ana']);
  await again.close();
});
