// Processes writing one SQLite file at once (the running hub and `lifeline hub ...` commands): a
// transaction that reads before it writes waits for the other writers instead of failing with
// "database is locked".

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type Migration } from 'kysely';
import { openSqlite } from './open.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-concurrent-writers-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const migrations: Record<string, Migration> = {
  '0001_counts': {
    up: async (db) => {
      await sql`create table counts (id integer primary key, seen integer not null)`.execute(db);
    },
  },
};

/** A process that runs `rounds` transactions, each reading the table and then adding a row. */
function writer(path: string, rounds: number): Promise<{ code: number | null; output: string }> {
  const open = new URL('./open.ts', import.meta.url).href;
  const script = `
    const { openSqlite } = await import(${JSON.stringify(open)});
    const { sql } = await import('kysely');
    const db = await openSqlite(${JSON.stringify(path)}, {
      '0001_counts': { up: async () => { throw new Error('made by the test already'); } },
    });
    let failed = 0;
    for (let i = 0; i < ${rounds}; i++) {
      await db.transaction().execute(async (trx) => {
        const { rows } = await sql\`select count(*) as n from counts\`.execute(trx);
        await sql\`insert into counts (seen) values (\${rows[0].n})\`.execute(trx);
      }).catch((err) => { failed++; console.log(err.message); });
    }
    await db.destroy();
    console.log('failed', failed);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

test('transactions of several processes that read before they write all commit', async () => {
  const path = join(dir, 'shared.db');
  const db = await openSqlite<{ counts: { id: number; seen: number } }>(path, migrations);
  await db.destroy();
  const results = await Promise.all([writer(path, 150), writer(path, 150), writer(path, 150)]);
  for (const { code, output } of results) {
    assert.equal(code, 0, output);
    assert.match(output, /^failed 0$/m, output);
  }
  const again = await openSqlite<{ counts: { id: number; seen: number } }>(path, migrations);
  try {
    const rows = await again.selectFrom('counts').select(['seen']).orderBy('id').execute();
    assert.equal(rows.length, 450);
    // Each transaction saw every row committed before it: the counts it read are 0, 1, 2...
    assert.deepEqual(
      rows.map((r) => r.seen),
      rows.map((_, i) => i),
    );
  } finally {
    await again.destroy();
  }
});
