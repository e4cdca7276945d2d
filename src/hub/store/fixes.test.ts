import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LifelineError } from '../../common/errors.js';
import { openSqliteHubStore } from './sqlite-hub-store.js';
import type { FixRecord } from './sql/index.js';
import { type HubStore } from './hub-store.js';

const t0 = Date.UTC(2026, 2, 2);

function fix(name: string, version: string, appliesTo: string[], publishedAtMs = t0): FixRecord {
  return {
    name,
    version,
    fileName: `${name}-${version}.bin`,
    path: `fixes/${name}/${version}/0123456789abcdef/${name}-${version}.bin`,
    size: 5_000_000_000,
    sha256: 'c'.repeat(64),
    appliesTo,
    description: null,
    publishedAtMs,
    statement: `header.${name}.${version}.signature`,
  };
}

async function withStore(work: (store: HubStore, path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-hub-fixes-'));
  const store = await openSqliteHubStore(join(dir, 'hub.db'));
  try {
    await work(store, join(dir, 'hub.db'));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a fix is stored as given and read back by name and version', async () => {
  await withStore(async (store) => {
    const record = { ...fix('bmc-fw', '2.1.0', ['X100', 'X200']), description: 'BMC firmware' };
    await store.fixes.add(record);
    assert.deepEqual(await store.fixes.get('bmc-fw', '2.1.0'), record);
    assert.equal(await store.fixes.get('bmc-fw', '2.1.1'), undefined);
    assert.equal(await store.fixes.get('bmc', '2.1.0'), undefined);
  });
});

test('the same name and version is refused a second time, and the first stays', async () => {
  await withStore(async (store) => {
    await store.fixes.add(fix('bios', '1.0', ['X100']));
    await assert.rejects(
      store.fixes.add({ ...fix('bios', '1.0', []), sha256: 'd'.repeat(64) }),
      (err: unknown) => err instanceof LifelineError && err.code === 'CALLHOME_FIX_EXISTS',
    );
    assert.equal((await store.fixes.get('bios', '1.0'))?.sha256, 'c'.repeat(64));
    await store.fixes.add(fix('bios', '1.1', ['X100']));
    assert.equal((await store.fixes.list()).length, 2);
  });
});

test('listing by model gives the fixes for that model and those for every model, newest first', async () => {
  await withStore(async (store) => {
    await store.fixes.add(fix('a', '1', ['X100'], t0));
    await store.fixes.add(fix('b', '1', ['Y200'], t0 + 1));
    await store.fixes.add(fix('c', '1', [], t0 + 2));
    await store.fixes.add(fix('d', '1', ['Y200', 'X100'], t0 + 3));
    const names = async (model?: string) => (await store.fixes.list({ model })).map((f) => f.name);
    assert.deepEqual(await names('X100'), ['d', 'c', 'a']);
    assert.deepEqual(await names('Y200'), ['d', 'c', 'b']);
    assert.deepEqual(await names('Z1'), ['c']);
    assert.deepEqual(await names(), ['d', 'c', 'b', 'a']);
    // Models are matched exactly: no prefixes, no case folding.
    assert.deepEqual(await names('X10'), ['c']);
    assert.deepEqual(await names('x100'), ['c']);
  });
});

test('fixes survive reopening the database (the migration runs once)', async () => {
  await withStore(async (store, path) => {
    await store.fixes.add(fix('a', '1', []));
    const again = await openSqliteHubStore(path);
    try {
      assert.equal((await again.fixes.get('a', '1'))?.size, 5_000_000_000);
    } finally {
      await again.close();
    }
  });
});
