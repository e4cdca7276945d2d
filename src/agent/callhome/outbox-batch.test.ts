// The outbox's fast paths: group commit of concurrent accepts, and delivery in batches answered
// report by report (the hub's side of batches is tested end to end in test/callhome-control).

import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { decodeManifest, checkManifest } from '../../protocol/index.js';
import type { ReportBatchAnswer, ReportEnvelope } from '../../protocol/index.js';
import { openAgentDatabase } from '../store/index.js';
import { OutboxStore } from './outbox-store.js';
import { Outbox, type Deliver, type OutboxOptions } from './outbox.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-outbox-batch-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** An outbox store on an agent.db of its own; closing it closes the database. */
async function openOutboxStore(path: string): Promise<OutboxStore & { close(): Promise<void> }> {
  const db = await openAgentDatabase(path);
  return Object.assign(new OutboxStore(db), { close: () => db.destroy() });
}

/** A stand-in hub for batches: checks the manifest, stores each id once, refuses `bad` payloads. */
class BatchHub {
  readonly batches: ReportEnvelope[][] = [];
  readonly stored = new Map<string, number>();
  failNext = 0;

  readonly deliver: Deliver = (body, _signal, headers) => {
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.resolve({ status: 503, answer: '{"code":"INTERNAL","message":"busy"}' });
    }
    const manifest = decodeManifest(headers?.['lifeline-manifest']);
    if (typeof manifest === 'string') assert.fail(manifest);
    assert.equal(checkManifest(manifest, body), undefined);
    const envelopes = body.split('\n').map((line) => JSON.parse(line) as ReportEnvelope);
    this.batches.push(envelopes);
    const results: ReportBatchAnswer['results'] = envelopes.map((envelope) => {
      if (envelope.payload.bad)
        return { id: envelope.id, status: 422, answer: { code: 'CALLHOME_REPORT_INVALID', message: 'bad' } };
      const duplicate = this.stored.has(envelope.id);
      this.stored.set(envelope.id, (this.stored.get(envelope.id) ?? 0) + 1);
      return { id: envelope.id, status: duplicate ? 200 : 201, answer: { stored: !duplicate, duplicate } };
    });
    return Promise.resolve({ status: 200, answer: JSON.stringify({ results }) });
  };
}

describe('Outbox batches and group commit', () => {
  let store: Awaited<ReturnType<typeof openOutboxStore>>;
  let hub: BatchHub;
  const outboxes: Outbox[] = [];

  function newOutbox(options: Partial<OutboxOptions> = {}): Outbox {
    const outbox = new Outbox({
      store,
      deliver: () => Promise.reject(new Error('single delivery is not used with batches')),
      deliverBatch: hub.deliver,
      clock: systemClock,
      logger: silentLogger(),
      minRetryMs: 5,
      maxRetryMs: 20,
      ...options,
    });
    outboxes.push(outbox);
    return outbox;
  }

  async function settled(outbox: Outbox, total: number): Promise<void> {
    for (let i = 0; i < 500; i++) {
      const status = await outbox.status();
      if (status.sent + status.rejected >= total) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.fail(`not settled: ${JSON.stringify(await outbox.status())}`);
  }

  beforeEach(async () => {
    store = await openOutboxStore(join(dir, `o-${++files}.db`));
    hub = new BatchHub();
  });
  afterEach(async () => {
    for (const outbox of outboxes.splice(0)) await outbox.close();
    await store.close();
  });

  test('concurrent accepts share commits, keep their order, and the bound refuses exactly the surplus', async () => {
    const outbox = newOutbox({ maxPending: 150 });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 200 }, (_, n) => outbox.accept('generic', { type: 'test', n })),
    );
    const refused = outcomes.filter((o) => o.status === 'rejected');
    assert.equal(refused.length, 50);
    for (const o of refused) {
      assert.ok(o.reason instanceof LifelineError);
      assert.equal(o.reason.code, 'CALLHOME_OUTBOX_FULL');
    }
    // Submission order is acceptance order: the first 150 submitted are the ones stored, in order.
    const accepted = outcomes.slice(0, 150).map((o) => (o.status === 'fulfilled' ? o.value.id : ''));
    const listed = (await store.list({ limit: 1000 })).map((item) => item.id);
    assert.deepEqual(listed, accepted);
  });

  test('the bound stays exact across group commits, settlements and single accepts', async () => {
    let n = 0;
    const envelope = (): ReportEnvelope => ({
      id: (++n).toString(16).padStart(32, '0'),
      kind: 'generic',
      createdAtMs: 1,
      orderKey: null,
      payload: { type: 'test', n },
    });
    const many = (count: number) =>
      store.acceptMany(
        Array.from({ length: count }, () => ({ envelope: envelope(), hold: false })),
        { nowMs: 1, maxPending: 120 },
      );
    const stored = (results: Array<unknown>) => results.filter((r) => !(r instanceof LifelineError)).length;
    assert.equal(stored(await many(100)), 100);
    const due = await store.nextDue(2, 50);
    await store.settleMany(
      2,
      due.map((item) => ({ id: item.id, outcome: 'sent' as const, status: 201, answer: '{}' })),
    );
    assert.equal(stored(await many(60)), 60, '50 settled, so 110 wait now');
    await store.accept(envelope(), { nowMs: 3, maxPending: 120 });
    assert.equal(stored(await many(20)), 9, '111 wait: room for 9 more');
    const counts = await store.counts();
    assert.equal(counts.pending, 120);
  });

  test('due reports go out in batches of at most 50; each is settled by its own answer', async () => {
    const outbox = newOutbox();
    const ids: string[] = [];
    for (let n = 0; n < 119; n++) ids.push((await outbox.accept('generic', { type: 'test', n })).id);
    const bad = (await outbox.accept('generic', { type: 'test', bad: true })).id;
    outbox.start();
    await settled(outbox, 120);
    const status = await outbox.status();
    assert.equal(status.sent, 119);
    assert.equal(status.rejected, 1);
    assert.ok(hub.batches.every((batch) => batch.length <= 50));
    assert.ok(hub.batches.length >= 3);
    assert.deepEqual(
      hub.batches.flat().map((e) => e.id),
      [...ids, bad],
    );
    const rejected = await store.get(bad);
    assert.equal(rejected?.state, 'rejected');
    assert.match(rejected?.answer ?? '', /CALLHOME_REPORT_INVALID/);
    const transmissions = await store.listTransmissions({ reportId: ids[0] });
    assert.equal(transmissions.length, 1);
    assert.equal(transmissions[0]?.status, 201);
  });

  test('reports of one order key never share a batch and keep their order across batches', async () => {
    const outbox = newOutbox();
    const keyed: string[] = [];
    for (let n = 0; n < 4; n++) {
      keyed.push((await outbox.accept('generic', { type: 'test', n }, { orderKey: 'PB-AAAAAA' })).id);
      await outbox.accept('generic', { type: 'test', other: n });
    }
    outbox.start();
    await settled(outbox, 8);
    const batchOf = (id: string) => hub.batches.findIndex((batch) => batch.some((e) => e.id === id));
    const positions = keyed.map(batchOf);
    assert.deepEqual(
      positions,
      [...positions].sort((a, b) => a - b),
    );
    assert.equal(new Set(positions).size, keyed.length, 'one keyed report per batch');
  });

  test('a batch the hub fails as a whole is retried whole, and nothing is marked rejected', async () => {
    const outbox = newOutbox();
    for (let n = 0; n < 10; n++) await outbox.accept('generic', { type: 'test', n });
    hub.failNext = 2;
    outbox.start();
    await settled(outbox, 10);
    const status = await outbox.status();
    assert.equal(status.sent, 10);
    assert.equal(status.rejected, 0);
    const items = await store.list({ limit: 100 });
    assert.deepEqual(
      items.map((item) => item.attempts),
      Array(10).fill(3),
      JSON.stringify(hub.batches.map((b) => b.map((e) => Number(e.payload.n)))),
    );
    assert.ok([...hub.stored.values()].every((count) => count === 1));
  });
});
