import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { AgentStore } from '../store/index.js';
import {
  compareWithCheckpoint,
  formatAuditJsonLines,
  verifyAuditChain,
  type AuditVerification,
  type AuditCheckpoint,
} from './audit-verify.js';
import { auditEntryHash, genesisHash, type AuditEntry } from '../../protocol/index.js';

const t0 = Date.UTC(2026, 0, 1);
const dir = mkdtempSync(join(tmpdir(), 'lifeline-audit-verify-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

interface AuditRow {
  seq: number;
  at: number;
  actor: string;
  action: string;
  detail: string;
  prev_hash: string;
  hash: string;
}

/** A log of `count` entries in a fresh SQLite file, written through the store. */
async function writeLog(count: number): Promise<{ path: string; entries: AuditEntry[] }> {
  const path = join(dir, `agent-${++files}.db`);
  const store = await AgentStore.open(path);
  const entries: AuditEntry[] = [];
  try {
    for (let i = 1; i <= count; i++) {
      entries.push(
        await store.appendAudit({
          atMs: t0 + i * 1000,
          actor: i % 3 === 0 ? 'technician:ann' : 'admin',
          action: i % 4 === 0 ? 'session.refused' : 'setting.remote',
          detail: { n: i, text: `entry "${i}" \\ ] grüße`, nested: { list: [i, null, true] } },
        }),
      );
    }
  } finally {
    await store.close();
  }
  return { path, entries };
}

async function readLog(path: string): Promise<AuditEntry[]> {
  const store = await AgentStore.open(path);
  try {
    return await store.listAudit();
  } finally {
    await store.close();
  }
}

/** Changes the file behind the store's back, as someone with access to the disk could. */
function tamper(path: string, change: (db: Database.Database) => void): void {
  const db = new Database(path);
  try {
    db.transaction(() => change(db))();
  } finally {
    db.close();
  }
}

function row(db: Database.Database, seq: number): AuditRow {
  const found = db.prepare('SELECT * FROM audit WHERE seq = ?').get(seq) as AuditRow | undefined;
  assert.ok(found, `row ${seq}`);
  return found;
}

function writeRow(db: Database.Database, seq: number, values: Omit<AuditRow, 'seq'>): void {
  db.prepare(
    'UPDATE audit SET at = @at, actor = @actor, action = @action, detail = @detail, ' +
      'prev_hash = @prev_hash, hash = @hash WHERE seq = @seq',
  ).run({ ...values, seq });
}

function assertFails(
  result: AuditVerification,
  expected: { seq: number; problem: string; message: RegExp },
): void {
  assert.equal(result.ok, false, 'the log should not verify');
  if (result.ok) return;
  assert.equal(result.firstBad.seq, expected.seq, result.firstBad.message);
  assert.equal(result.firstBad.problem, expected.problem, result.firstBad.message);
  assert.match(result.firstBad.message, expected.message);
}

/** Rewrites entries from `fromSeq` on with recomputed hashes, as a forger who knows the scheme would. */
function forge(path: string, fromSeq: number, relinkToSeq: number): void {
  tamper(path, (db) => {
    let prevHash = fromSeq === 1 ? genesisHash : row(db, fromSeq - 1).hash;
    for (let seq = fromSeq; seq <= relinkToSeq; seq++) {
      const old = row(db, seq);
      const detail = JSON.parse(old.detail) as Record<string, unknown>;
      if (seq === fromSeq) detail.forged = true;
      const unhashed = { seq, atMs: old.at, actor: old.actor, action: old.action, detail, prevHash };
      const hash = auditEntryHash(unhashed);
      writeRow(db, seq, { ...old, detail: JSON.stringify(detail), prev_hash: prevHash, hash });
      prevHash = hash;
    }
  });
}

describe('verifyAuditChain', () => {
  test('an untouched log verifies, and names its head', async () => {
    const { path, entries } = await writeLog(25);
    const result = verifyAuditChain(await readLog(path));
    const head = entries.at(-1);
    assert.deepEqual(result, { ok: true, count: 25, headSeq: 25, headHash: head?.hash });
  });

  test('an empty log verifies with the genesis hash as its head', () => {
    assert.deepEqual(verifyAuditChain([]), { ok: true, count: 0, headSeq: 0, headHash: genesisHash });
  });

  test('a change to any one column of a row names that row', async () => {
    const changes: [string, string][] = [
      ['detail', `UPDATE audit SET detail = '{"n":7,"text":"nothing to see"}' WHERE seq = 7`],
      ['actor', `UPDATE audit SET actor = 'agent' WHERE seq = 7`],
      ['action', `UPDATE audit SET action = 'setting.access' WHERE seq = 7`],
      ['at', `UPDATE audit SET at = at - 3600000 WHERE seq = 7`],
      ['prev_hash', `UPDATE audit SET prev_hash = '${'f'.repeat(64)}' WHERE seq = 7`],
      ['hash', `UPDATE audit SET hash = '${'e'.repeat(64)}' WHERE seq = 7`],
    ];
    for (const [column, statement] of changes) {
      const { path } = await writeLog(12);
      tamper(path, (db) => db.exec(statement));
      const result = verifyAuditChain(await readLog(path));
      assertFails(result, { seq: 7, problem: 'hash-mismatch', message: /^entry 7 was changed: / });
      assert.equal(result.count, 12, column);
    }
  });

  test('a row given another number is found where it went missing', async () => {
    const { path } = await writeLog(12);
    tamper(path, (db) => db.exec('UPDATE audit SET seq = 1000 WHERE seq = 7'));
    assertFails(verifyAuditChain(await readLog(path)), {
      seq: 8,
      problem: 'sequence-gap',
      message: /^entry 8 does not follow entry 6: entry 7 is missing/,
    });
  });

  test('re-serializing detail without changing its meaning is not a change', async () => {
    const { path } = await writeLog(5);
    tamper(path, (db) => {
      const old = row(db, 3);
      const spaced = JSON.stringify(JSON.parse(old.detail), null, 2);
      writeRow(db, 3, { ...old, detail: spaced });
    });
    assert.equal(verifyAuditChain(await readLog(path)).ok, true);
  });

  test('deleting the first row, or rows in the middle, is named', async () => {
    const first = await writeLog(10);
    tamper(first.path, (db) => db.exec('DELETE FROM audit WHERE seq = 1'));
    assertFails(verifyAuditChain(await readLog(first.path)), {
      seq: 2,
      problem: 'bad-genesis',
      message: /^the log starts at entry 2, not entry 1: entry 1 is missing$/,
    });

    const middle = await writeLog(10);
    tamper(middle.path, (db) => db.exec('DELETE FROM audit WHERE seq = 5'));
    assertFails(verifyAuditChain(await readLog(middle.path)), {
      seq: 6,
      problem: 'sequence-gap',
      message: /^entry 6 does not follow entry 4: entry 5 is missing or the order was changed$/,
    });

    const several = await writeLog(10);
    tamper(several.path, (db) => db.exec('DELETE FROM audit WHERE seq IN (1, 2, 3)'));
    assertFails(verifyAuditChain(await readLog(several.path)), {
      seq: 4,
      problem: 'bad-genesis',
      message: /entries 1 to 3 are missing/,
    });
  });

  test('two rows whose contents were exchanged fail at the first of them', async () => {
    for (const columns of ['all', 'content'] as const) {
      const { path } = await writeLog(10);
      tamper(path, (db) => {
        const [three, eight] = [row(db, 3), row(db, 8)];
        const pick = (from: AuditRow, to: AuditRow): Omit<AuditRow, 'seq'> =>
          columns === 'all' ? from : { ...from, prev_hash: to.prev_hash, hash: to.hash };
        writeRow(db, 3, pick(eight, three));
        writeRow(db, 8, pick(three, eight));
      });
      assertFails(verifyAuditChain(await readLog(path)), {
        seq: 3,
        problem: 'hash-mismatch',
        message: /^entry 3 was changed/,
      });
    }
  });

  test('a row rewritten with a recomputed hash breaks the link to the next one', async () => {
    const { path } = await writeLog(10);
    forge(path, 4, 4);
    assertFails(verifyAuditChain(await readLog(path)), {
      seq: 5,
      problem: 'broken-link',
      message: /^entry 5 does not link to entry 4: /,
    });
  });

  test('entries out of order or repeated are named', () => {
    const chain = memoryChain(5);
    const [one, two, three] = chain;
    assert.ok(one && two && three);
    assertFails(verifyAuditChain([one, two, two, three]), {
      seq: 2,
      problem: 'sequence-gap',
      message: /^entry 2 comes after entry 2: /,
    });
    assertFails(verifyAuditChain([one, three, two]), {
      seq: 3,
      problem: 'sequence-gap',
      message: /entry 2 is missing/,
    });
  });

  test('a chain that links to an earlier entry cannot pass as a whole log', () => {
    const entry = {
      seq: 1,
      atMs: t0,
      actor: 'admin',
      action: 'agent.start',
      detail: {},
      prevHash: 'a'.repeat(64),
    };
    assertFails(verifyAuditChain([{ ...entry, hash: auditEntryHash(entry) }]), {
      seq: 1,
      problem: 'bad-genesis',
      message: /^entry 1 does not start a chain/,
    });
  });

  test('any single-field change anywhere in a chain is caught at that entry', () => {
    const hex64 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });
    const json = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
    const mutation = fc.oneof(
      fc.record({ field: fc.constant('seq' as const), value: fc.integer() }),
      fc.record({ field: fc.constant('atMs' as const), value: fc.integer({ min: 0, max: 2 ** 45 }) }),
      fc.record({ field: fc.constant('actor' as const), value: fc.string() }),
      fc.record({ field: fc.constant('action' as const), value: fc.string() }),
      fc.record({ field: fc.constant('detail' as const), value: json }),
      fc.record({ field: fc.constant('prevHash' as const), value: hex64 }),
      fc.record({ field: fc.constant('hash' as const), value: hex64 }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.nat(), mutation, (length, pick, change) => {
        const chain = memoryChain(length);
        const index = pick % length;
        const original = chain[index];
        assert.ok(original);
        const mutated: AuditEntry = { ...original, [change.field]: change.value };
        // Only a change the hash can see counts: JSON that reads back the same is the same entry.
        fc.pre(JSON.stringify(mutated) !== JSON.stringify(original));
        chain[index] = mutated;
        const result = verifyAuditChain(chain);
        assert.equal(result.ok, false);
        if (result.ok) return;
        assert.equal(result.firstBad.seq, mutated.seq);
        assert.equal(result.firstBad.problem, 'hash-mismatch');
        assert.equal(result.count, length);
      }),
      { numRuns: 2000, interruptAfterTimeLimit: 5000 },
    );
  });
});

describe('compareWithCheckpoint', () => {
  test('a log that grew honestly since the checkpoint agrees with it', async () => {
    const { path, entries } = await writeLog(8);
    const checkpoint = checkpointOf(entries, 5);
    const result = verifyAuditChain(await readLog(path), { checkpoint });
    assert.deepEqual(compareWithCheckpoint(result, checkpoint), { ok: true });
    assert.deepEqual(compareWithCheckpoint(result, checkpointOf(entries, 8)), { ok: true });
    const empty = { count: 0, headHash: genesisHash };
    assert.deepEqual(compareWithCheckpoint(verifyAuditChain(entries, { checkpoint: empty }), empty), {
      ok: true,
    });
  });

  test('a removed tail is a truncation', async () => {
    const { path, entries } = await writeLog(8);
    tamper(path, (db) => db.exec('DELETE FROM audit WHERE seq >= 7'));
    const result = verifyAuditChain(await readLog(path));
    assert.equal(result.ok, true, 'the chain alone cannot see a removed tail');
    const comparison = compareWithCheckpoint(result, checkpointOf(entries, 8));
    assert.ok(!comparison.ok);
    assert.equal(comparison.problem, 'truncated');
    assert.equal(
      comparison.message,
      'the log has 6 entries but had 8 at the checkpoint: the last 2 entries were removed, or the log was rolled back',
    );
  });

  test('a log rewritten with every hash recomputed diverges from the checkpoint', async () => {
    const { path, entries } = await writeLog(10);
    forge(path, 3, 10);
    const atHead = checkpointOf(entries, 10);
    const before = checkpointOf(entries, 6);
    const result = verifyAuditChain(await readLog(path), { checkpoint: before });
    assert.equal(result.ok, true, 'a consistent forgery passes the chain check');
    for (const checkpoint of [atHead, before]) {
      const comparison = compareWithCheckpoint(result, checkpoint);
      assert.ok(!comparison.ok);
      assert.equal(comparison.problem, 'diverged');
      assert.match(comparison.message, new RegExp(`^entry ${checkpoint.count} differs from the checkpoint`));
    }
    // A forgery after the checkpoint is out of its reach.
    const late = await writeLog(10);
    forge(late.path, 8, 10);
    const checkpoint = checkpointOf(late.entries, 7);
    assert.deepEqual(
      compareWithCheckpoint(verifyAuditChain(await readLog(late.path), { checkpoint }), checkpoint),
      { ok: true },
    );
  });

  test('a broken chain is reported as such', () => {
    const chain = memoryChain(4);
    const result = verifyAuditChain([chain[0], chain[2], chain[3]].filter((entry) => entry !== undefined));
    const comparison = compareWithCheckpoint(result, checkpointOf(chain, 4));
    assert.ok(!comparison.ok);
    assert.equal(comparison.problem, 'chain-broken');
    assert.match(comparison.message, /^the log does not verify: entry 3 does not follow entry 1/);
  });

  test('comparing a longer log needs the checkpoint while streaming', () => {
    const chain = memoryChain(4);
    assert.throws(() => compareWithCheckpoint(verifyAuditChain(chain), checkpointOf(chain, 2)), TypeError);
  });
});

describe('formatAuditJsonLines', () => {
  test('one object per line, keys in a fixed order, and it verifies again when read back', async () => {
    const { path } = await writeLog(3);
    const entries = await readLog(path);
    const text = formatAuditJsonLines(entries);
    const lines = text.split('\n');
    assert.equal(lines.pop(), '', 'every line ends in a newline');
    assert.equal(lines.length, 3);
    const first = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.deepEqual(Object.keys(first), ['seq', 'at', 'actor', 'action', 'detail', 'prevHash', 'hash']);
    assert.equal(first.at, '2026-01-01T00:00:01.000Z');
    assert.equal(first.prevHash, genesisHash);

    const readBack = lines.map((line) => {
      const { at, ...rest } = JSON.parse(line) as Omit<AuditEntry, 'atMs'> & { at: string };
      return { ...rest, atMs: Date.parse(at) };
    });
    assert.deepEqual(verifyAuditChain(readBack), verifyAuditChain(entries));
    assert.equal(formatAuditJsonLines([]), '');
  });

  test('a time no date can show is exported as null', () => {
    const [entry] = memoryChain(1);
    assert.ok(entry);
    const line = JSON.parse(formatAuditJsonLines([{ ...entry, atMs: 9e15 }])) as { at: unknown };
    assert.equal(line.at, null);
  });
});

function memoryChain(length: number): AuditEntry[] {
  const chain: AuditEntry[] = [];
  let prevHash = genesisHash;
  for (let seq = 1; seq <= length; seq++) {
    const unhashed = {
      seq,
      atMs: t0 + seq,
      actor: 'admin',
      action: 'setting.remote',
      detail: { seq },
      prevHash,
    };
    const entry = { ...unhashed, hash: auditEntryHash(unhashed) };
    chain.push(entry);
    prevHash = entry.hash;
  }
  return chain;
}

function checkpointOf(entries: AuditEntry[], count: number): AuditCheckpoint {
  const entry = entries[count - 1];
  assert.ok(entry);
  return { count, headHash: entry.hash };
}
