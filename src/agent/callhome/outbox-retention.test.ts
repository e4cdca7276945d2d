import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../common/clock.js';
import { createLogger } from '../../common/logger.js';
import type { ReportEnvelope } from '../../protocol/index.js';
import { AgentStore } from '../store/index.js';
import { OutboxStore } from './outbox-store.js';
import { SentReportPurger, purgeSettledBefore } from './outbox-retention.js';

const day = 86_400_000;
const t0 = Date.UTC(2026, 0, 1);

function envelope(orderKey: string | null = null): ReportEnvelope {
  return {
    id: randomBytes(16).toString('hex'),
    kind: 'generic',
    createdAtMs: t0,
    orderKey,
    payload: { n: 1 },
  };
}

test('sent and rejected reports go with their transmissions keepSent after they settled; pending and held stay', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-outbox-retention-'));
  const store = await AgentStore.open(join(dir, 'agent.db'));
  try {
    const outbox = new OutboxStore(store.db);
    const clock = new ManualClock(t0);
    const accept = (hold = false) => outbox.accept(envelope(), { nowMs: t0, maxPending: 100, hold });
    const sentEarly = await accept();
    await outbox.markFailed(sentEarly.id, t0, 'HTTP 503', t0 + 1000, { status: 503, answer: '{}' });
    await outbox.markSent(sentEarly.id, t0 + 1000, '{"stored":true}', 201);
    const rejected = await accept();
    await outbox.markRejected(rejected.id, t0 + 2 * day, 422, '{"code":"CALLHOME_REPORT_INVALID"}');
    const sentLate = await accept();
    await outbox.markSent(sentLate.id, t0 + 10 * day, '{"stored":true}', 201);
    const pending = await accept();
    await outbox.markFailed(pending.id, t0, 'HTTP 503', t0 + 1000, { status: 503, answer: '{}' });
    const held = await accept(true);

    const audited: { action: string; detail: Record<string, unknown> }[] = [];
    const purger = new SentReportPurger({
      db: store.db,
      keepSentMs: 90 * day,
      clock,
      logger: createLogger({ name: 'test', level: 'silent' }),
      record: (action, detail) => Promise.resolve(audited.push({ action, detail })),
    });

    // 90 days after the first report settled, to the millisecond: it is kept.
    clock.advance(90 * day + 1000);
    assert.deepEqual(await purger.purgeOnce(), { reports: 0, transmissions: 0, cutoffMs: t0 + 1000 });
    assert.equal(audited.length, 0);

    clock.advance(1);
    const first = await purger.purgeOnce();
    assert.equal(first.reports, 1);
    assert.equal(first.transmissions, 2);
    assert.equal(await outbox.get(sentEarly.id), undefined);
    assert.deepEqual(await outbox.listTransmissions({ reportId: sentEarly.id }), []);
    assert.equal(audited[0]?.action, 'callhome.purged');
    assert.equal(audited[0]?.detail.reports, 1);

    // A rejected report settled at its last transmission, not when it was accepted.
    clock.advance(2 * day);
    assert.equal((await purger.purgeOnce()).reports, 1);
    assert.equal(await outbox.get(rejected.id), undefined);
    assert.ok(await outbox.get(sentLate.id));

    // Years later: the pending report, its failed attempt's log, and the held one are all kept.
    clock.advance(5 * 365 * day);
    assert.equal((await purger.purgeOnce()).reports, 1);
    assert.equal((await outbox.get(pending.id))?.state, 'pending');
    assert.equal((await outbox.listTransmissions({ reportId: pending.id })).length, 1);
    assert.equal((await outbox.get(held.id))?.state, 'held');
    assert.deepEqual(await outbox.counts(), { pending: 1, held: 1, sent: 0, rejected: 0 });
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('transmissions of no report in the outbox (upload steps) go keepSent after they were made', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-outbox-retention-'));
  const store = await AgentStore.open(join(dir, 'agent.db'));
  try {
    const step = {
      kind: 'attachment.chunk' as const,
      bytes: 10,
      sha256: 'a'.repeat(64),
      status: 200,
      answer: '{}',
    };
    const outbox = new OutboxStore(store.db);
    await outbox.recordUploadStep({ attachmentId: 'c'.repeat(32), atMs: t0, ...step });
    await outbox.recordUploadStep({ attachmentId: 'd'.repeat(32), atMs: t0 + 5 * day, ...step });
    const removed = await purgeSettledBefore(store.db, t0 + day);
    assert.deepEqual(removed, { reports: 0, transmissions: 1 });
    assert.deepEqual(
      (await outbox.listTransmissions()).map((t) => t.reportId),
      ['d'.repeat(32)],
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
