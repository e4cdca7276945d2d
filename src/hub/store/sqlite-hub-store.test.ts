// The HubStore contract on SQLite, and what only a SQLite file shows: it is reopened with its data.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHubStoreContract } from './contract/index.js';
import { openSqliteHubStore } from './sqlite-hub-store.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-hub-store-'));
let files = 0;
after(() => rmSync(dir, { recursive: true, force: true }));

runHubStoreContract('SQLite hub store', () => openSqliteHubStore(join(dir, `hub-${++files}.db`)));

test('a SQLite hub store reopened keeps what it held (its migrations run once)', async () => {
  const path = join(dir, 'reopened.db');
  const first = await openSqliteHubStore(path);
  await first.addUser({
    name: 'alice',
    passwordHash: 'h',
    groups: ['technicians'],
    createdAtMs: 1,
    disabledAtMs: null,
  });
  await first.close();
  const again = await openSqliteHubStore(path);
  try {
    assert.deepEqual((await again.getUser('alice'))?.groups, ['technicians']);
  } finally {
    await again.close();
  }
});
