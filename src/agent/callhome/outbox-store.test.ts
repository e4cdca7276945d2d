import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LifelineError } from '../../common/errors.js';
import type { ReportEnvelope } from '../../protocol/index.js';
import { openAgentDatabase } from '../store/index.js';
import { OutboxStore, sha256Hex } from './outbox-store.js';

const t0 = 1_750_000_000_000;
const dir = mkdtempSync(join(tmpdir(), 'lifeline-outbox-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** An outbox store on an agent.db of its own; closing it closes the database. */
async function openOutboxStore(path: string): Promise<OutboxStore & { close(): Promise<void> }> {
  const db = await openAgentDatabase(path);
  return Object.assign(new OutboxStore(db), { close: () => db.destroy() });
}

function envelope(orderKey: string | null = null, payload: Record<string, unknown> = {}): ReportEnvelope {
  return { id: randomBytes(16).toString('hex'), kind: 'generic', createdAtMs: t0, orderKey, payload };
}

describe('OutboxStore', () => {
  let path: string;
  let store: Awaited<ReturnType<typeof openOutboxStore>>;
  const open = () => openOutboxStore(path);
  const options = { nowMs: t0, maxPending: 100 };

  beforeEach(async () => {
    path = join(dir, `outbox-${++files}.db`);
    store = await open();
  });
  afterEach(async () => {
    await store.close();
  });

  test('an accepted report survives closing and reopening, with its exact body', async () => {
    const report = envelope('k', { text: 'grüße', n: 1 });
    const item = await store.accept(report, options);
    await store.close();
    store = await open();
    const stored = await store.get(report.id);
    assert.ok(stored);
    assert.deepEqual(stored, item);
    assert.equal(stored.body, JSON.stringify(report));
    assert.equal(stored.bytes, Buffer.byteLength(stored.body));
    assert.equal(stored.sha256, sha256Hex(stored.body));
    assert.equal(stored.state, 'pending');
    assert.deepEqual(await store.counts(), { pending: 1, held: 0, sent: 0, rejected: 0 });
  });

  test('accepting the same id twice stores it once', async () => {
    const report = envelope();
    await store.accept(report, options);
    await store.accept(report, options);
    assert.equal((await store.list()).length, 1);
  });

  test('refuses past maxPending, counting held reports, but not sent ones', async () => {
    const first = envelope();
    await store.accept(first, { ...options, maxPending: 2 });
    await store.accept(envelope(), { ...options, maxPending: 2, hold: true });
    await assert.rejects(store.accept(envelope(), { ...options, maxPending: 2 }), (err: unknown) => {
      assert.ok(err instanceof LifelineError);
      assert.equal(err.code, 'CALLHOME_OUTBOX_FULL');
      assert.match(err.message, /outbox is full.*limit 2/);
      return true;
    });
    await store.markSent(first.id, t0, '{}', 200);
    await store.accept(envelope(), { ...options, maxPending: 2 });
  });

  test('an item is not due while an older one of its order key waits', async () => {
    const a = envelope('k');
    const b = envelope('k');
    const other = envelope('other');
    const loose = envelope(null);
    for (const e of [a, b, other, loose]) await store.accept(e, options);
    assert.deepEqual(
      (await store.nextDue(t0, 10)).map((i) => i.id),
      [a.id, other.id, loose.id],
    );
    // a failed and waits: b, though due by time, stays behind it.
    await store.markFailed(a.id, t0, 'HTTP 503', t0 + 1000, { status: 503, answer: 'busy' });
    assert.deepEqual(
      (await store.nextDue(t0 + 10, 10)).map((i) => i.id),
      [other.id, loose.id],
    );
    assert.equal(await store.nextAttemptAt(), t0);
    await store.markSent(other.id, t0, '{}', 200);
    await store.markSent(loose.id, t0, '{}', 200);
    assert.equal(await store.nextAttemptAt(), t0 + 1000);
    assert.deepEqual(
      (await store.nextDue(t0 + 1000, 10)).map((i) => i.id),
      [a.id],
    );
    // A rejected report no longer blocks its key.
    await store.markRejected(a.id, t0 + 1000, 400, '{"code":"API_BAD_REQUEST"}');
    assert.deepEqual(
      (await store.nextDue(t0 + 1000, 10)).map((i) => i.id),
      [b.id],
    );
    const rejected = await store.get(a.id);
    assert.equal(rejected?.state, 'rejected');
    assert.equal(rejected?.attempts, 2);
    assert.equal(rejected?.answer, '{"code":"API_BAD_REQUEST"}');
  });

  test('held reports are not due, block their key, and are released', async () => {
    const a = envelope('k');
    const b = envelope('k');
    await store.accept(a, { ...options, hold: true });
    await store.accept(b, options);
    assert.deepEqual(await store.nextDue(t0, 10), []);
    assert.equal(await store.nextAttemptAt(), undefined);
    assert.equal(await store.release(a.id), 1);
    assert.deepEqual(
      (await store.nextDue(t0, 10)).map((i) => i.id),
      [a.id],
    );
    await store.accept(envelope(), { ...options, hold: true });
    await store.accept(envelope(), { ...options, hold: true });
    assert.equal(await store.release('all'), 2);
    assert.equal((await store.list({ state: 'held' })).length, 0);
  });

  test('sent and rejected reports log their transmissions; a network failure does not', async () => {
    const a = envelope();
    const item = await store.accept(a, options);
    await store.markFailed(a.id, t0 + 1, 'connect ECONNREFUSED', t0 + 5);
    await store.markFailed(a.id, t0 + 5, 'HTTP 503', t0 + 10, { status: 503, answer: 'busy' });
    await store.markSent(a.id, t0 + 10, '{"stored":true,"duplicate":false}', 201);
    const log = await store.listTransmissions();
    assert.deepEqual(
      log.map((t) => [t.reportId, t.atMs, t.status, t.answer, t.bytes, t.sha256, t.kind]),
      [
        [a.id, t0 + 5, 503, 'busy', item.bytes, item.sha256, 'generic'],
        [a.id, t0 + 10, 201, '{"stored":true,"duplicate":false}', item.bytes, item.sha256, 'generic'],
      ],
    );
    const sent = await store.get(a.id);
    assert.equal(sent?.state, 'sent');
    assert.equal(sent?.sentAtMs, t0 + 10);
    assert.equal(sent?.attempts, 3);
    assert.equal(sent?.lastError, null);
    assert.deepEqual(await store.counts(), { pending: 0, held: 0, sent: 1, rejected: 0 });
  });

  test('settling a batch leaves every report as settling it alone would', async () => {
    // The same six reports in two stores: one settled report by report, one as a batch.
    const reports = Array.from({ length: 6 }, (_, n) => envelope(null, { n }));
    const alone = store;
    const batched = await openOutboxStore(join(dir, `outbox-${++files}.db`));
    try {
      for (const s of [alone, batched]) for (const report of reports) await s.accept(report, options);
      const [a, b, c, d, e, f] = reports.map((r) => r.id) as [string, string, string, string, string, string];
      await alone.markFailed(a, t0 + 1, 'HTTP 503', t0 + 9, {
        status: 503,
        answer: 'busy',
        manifest: '{"m":1}',
      });
      await batched.settleMany(t0 + 1, [
        {
          id: a,
          outcome: 'failed',
          error: 'HTTP 503',
          nextAttemptAtMs: t0 + 9,
          answered: { status: 503, answer: 'busy', manifest: '{"m":1}' },
        },
      ]);
      await alone.markSent(b, t0 + 10, '{"n":"b"}', 201, '{"m":2}');
      await alone.markSent(a, t0 + 10, '{"n":"a"}', 200, '{"m":3}');
      await alone.markRejected(c, t0 + 10, 422, '{"code":"CALLHOME_REPORT_INVALID"}', '{"m":4}');
      await alone.markFailed(d, t0 + 10, 'connect ECONNRESET', t0 + 20);
      await alone.markSent(e, t0 + 10, '{"n":"e"}', 201);
      await batched.settleMany(t0 + 10, [
        { id: b, outcome: 'sent', status: 201, answer: '{"n":"b"}', manifest: '{"m":2}' },
        { id: a, outcome: 'sent', status: 200, answer: '{"n":"a"}', manifest: '{"m":3}' },
        {
          id: c,
          outcome: 'rejected',
          status: 422,
          answer: '{"code":"CALLHOME_REPORT_INVALID"}',
          manifest: '{"m":4}',
        },
        { id: d, outcome: 'failed', error: 'connect ECONNRESET', nextAttemptAtMs: t0 + 20 },
        { id: e, outcome: 'sent', status: 201, answer: '{"n":"e"}' },
      ]);
      assert.deepEqual(await batched.list(), await alone.list());
      const log = async (s: OutboxStore) => (await s.listTransmissions()).map(({ seq: _seq, ...t }) => t);
      assert.deepEqual(await log(batched), await log(alone));
      assert.equal((await batched.get(f))?.state, 'pending', 'a report outside the batch is untouched');
      assert.deepEqual(await batched.counts(), { pending: 2, held: 0, sent: 3, rejected: 1 });
      assert.equal((await batched.get(a))?.answer, '{"n":"a"}');
      assert.equal((await batched.get(a))?.attempts, 2);
    } finally {
      await batched.close();
    }
  });
});
