import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { decodeManifest, checkManifest } from '../../protocol/index.js';
import type { ReportEnvelope } from '../../protocol/index.js';
import { AgentStore } from '../store/index.js';
import { OutboxStore } from './outbox-store.js';
import { Outbox, type Deliver } from './outbox.js';
import { ProblemDesk } from './problem-desk.js';
import { ProblemStore } from './problem-store.js';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-problem-desk-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const hour = 3_600_000;

/** The hub's side, in process: numbers problem.open reports as the real hub does, and keeps the headers. */
function numberingHub() {
  const received: { envelope: ReportEnvelope; body: string; headers: Record<string, string> }[] = [];
  let next = 0;
  const deliver: Deliver = (body, _signal, headers = {}) => {
    const envelope = JSON.parse(body) as ReportEnvelope;
    received.push({ envelope, body, headers });
    const problemNumber =
      envelope.kind === 'problem.open' ? `P-${String(++next).padStart(6, '0')}` : undefined;
    return Promise.resolve({
      status: 201,
      answer: JSON.stringify({ stored: true, duplicate: false, ...(problemNumber ? { problemNumber } : {}) }),
    });
  };
  return { received, deliver };
}

describe('ProblemDesk', () => {
  let store: AgentStore;
  let clock: ManualClock;
  let outbox: Outbox;
  let desk: ProblemDesk;
  let hub: ReturnType<typeof numberingHub>;

  const make = (options: { maxPending?: number; review?: boolean } = {}): void => {
    outbox = new Outbox({
      store: new OutboxStore(store.db),
      deliver: hub.deliver,
      clock,
      logger: silentLogger(),
      ...options,
    });
    desk = new ProblemDesk({
      store: new ProblemStore(store.db),
      outbox,
      clock,
      logger: silentLogger(),
      stormWindowMs: hour,
    });
    desk.watch(outbox);
  };

  beforeEach(async () => {
    store = await AgentStore.open(join(dir, `agent-${++files}.db`));
    clock = new ManualClock();
    hub = numberingHub();
    make();
  });
  afterEach(async () => {
    await outbox.close();
    await store.close();
  });

  const fan = {
    summary: 'Fan 3 failed',
    severity: 'major',
    referenceCode: 'E1F3',
    system: { serial: 'SN-1' },
  };

  async function delivered(count: number): Promise<void> {
    outbox.start();
    await until(async () => (await outbox.status()).sent >= count);
  }

  test('open writes the problem and its report in one go; the vendor number arrives with the answer', async () => {
    const opened = await desk.open(fan);
    assert.match(opened.localId, /^PB-[0-9A-Z]{6}$/);
    assert.equal(opened.reportedAgain, false);
    const [problem] = await desk.list();
    assert.equal(problem?.localId, opened.localId);
    assert.equal(problem?.state, 'open');
    assert.equal(problem?.vendorNumber, null);
    assert.equal(problem?.openReportState, 'pending');
    assert.deepEqual(problem?.system, { serial: 'SN-1', type: null, model: null });
    const item = await outbox.store.get(opened.report.id);
    assert.equal(item?.kind, 'problem.open');
    assert.equal(item?.orderKey, opened.localId);

    await delivered(1);
    await waitForNumber(desk, opened.localId);
    assert.equal((await desk.get(opened.localId)).vendorNumber, 'P-000001');
  });

  test('every delivery carries a manifest of its exact bytes, also stored with the transmission', async () => {
    const opened = await desk.open(fan);
    await delivered(1);
    const [sent] = hub.received;
    assert.ok(sent);
    const manifest = decodeManifest(sent.headers['lifeline-manifest']);
    assert.ok(typeof manifest !== 'string', typeof manifest === 'string' ? manifest : '');
    assert.equal(checkManifest(manifest, sent.body), undefined);
    assert.equal(manifest.contains, `problem.open ${opened.localId}: Fan 3 failed`);
    assert.equal(manifest.id, opened.report.id);
    const [transmission] = await outbox.store.listTransmissions();
    assert.deepEqual(transmission?.manifest, manifest);
  });

  test('storm control: the same code and system within the window counts an occurrence and sends an update', async () => {
    const first = await desk.open(fan);
    clock.advance(10 * 60_000);
    const second = await desk.open({ ...fan, summary: 'Fan 3 failed again' });
    clock.advance(50 * 60_000);
    const third = await desk.open(fan);
    assert.equal(second.localId, first.localId);
    assert.equal(second.reportedAgain, true);
    assert.equal(second.occurrences, 2);
    assert.equal(third.occurrences, 3, 'the window runs from the last report');
    const problems = await desk.list();
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.occurrences, 3);
    const update = JSON.parse((await outbox.store.get(second.report.id))?.body ?? '') as ReportEnvelope;
    assert.equal(update.kind, 'problem.update');
    assert.equal(update.orderKey, first.localId);
    assert.deepEqual(update.payload, {
      localId: first.localId,
      note: 'reported again: occurrence 2 (Fan 3 failed again)',
    });
  });

  test('storm control does not merge other systems, reports without a code, late or closed problems', async () => {
    const first = await desk.open(fan);
    assert.equal((await desk.open({ ...fan, system: { serial: 'SN-2' } })).reportedAgain, false);
    assert.equal((await desk.open({ ...fan, system: undefined })).reportedAgain, false);
    assert.equal(
      (await desk.open({ ...fan, system: undefined })).reportedAgain,
      true,
      'no system matches no system',
    );
    assert.equal((await desk.open({ ...fan, referenceCode: undefined })).reportedAgain, false);
    assert.equal((await desk.open({ ...fan, referenceCode: undefined })).reportedAgain, false);
    clock.advance(hour + 1);
    const late = await desk.open(fan);
    assert.equal(late.reportedAgain, false);
    assert.notEqual(late.localId, first.localId);
    await desk.close(late.localId);
    assert.equal((await desk.open(fan)).reportedAgain, false);
    assert.equal((await desk.list()).length, 7);
  });

  test('concurrent reports of one storm open one problem', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => desk.open(fan)));
    assert.equal(new Set(results.map((r) => r.localId)).size, 1);
    assert.deepEqual(results.map((r) => r.occurrences).sort(), [1, 2, 3, 4, 5]);
  });

  test('update and close of an unknown problem, or of a closed one, are refused', async () => {
    await assert.rejects(desk.update('PB-ZZZZZZ', 'x'), { code: 'CALLHOME_PROBLEM_UNKNOWN' });
    await assert.rejects(desk.close('PB-ZZZZZZ'), { code: 'CALLHOME_PROBLEM_UNKNOWN' });
    await assert.rejects(desk.get('PB-ZZZZZZ'), { code: 'CALLHOME_PROBLEM_UNKNOWN' });
    const opened = await desk.open(fan);
    await desk.update(opened.localId, 'replaced the fan');
    clock.advance(1000);
    await desk.close(opened.localId, 'fixed');
    const closed = await desk.get(opened.localId);
    assert.equal(closed.state, 'closed');
    assert.equal(closed.closedAtMs, clock.now());
    await assert.rejects(desk.update(opened.localId, 'more'), (err: unknown) => {
      assert.ok(err instanceof LifelineError);
      assert.equal(err.code, 'CALLHOME_PROBLEM_CLOSED');
      assert.equal(err.httpStatus, 409);
      return true;
    });
    await assert.rejects(desk.close(opened.localId), { code: 'CALLHOME_PROBLEM_CLOSED' });
    assert.equal((await outbox.store.list()).length, 3);
  });

  test('a full outbox refuses the report and no problem is written', async () => {
    await outbox.close();
    make({ maxPending: 10 });
    for (let i = 0; i < 10; i++) await desk.open({ ...fan, referenceCode: `E${i}` });
    await assert.rejects(desk.open({ ...fan, referenceCode: 'E99' }), { code: 'CALLHOME_OUTBOX_FULL' });
    assert.equal((await desk.list()).length, 10);
  });

  test('review mode holds the report; numbers lost by a restart are recovered from the stored answer', async () => {
    await outbox.close();
    make({ review: true });
    const opened = await desk.open(fan);
    assert.equal(opened.report.held, true);
    assert.equal((await desk.get(opened.localId)).openReportState, 'held');
    await outbox.release('all');
    // The answer is stored, but the desk that would copy the number is gone (as after a crash).
    outbox.removeAllListeners('attempt');
    await delivered(1);
    assert.equal((await desk.get(opened.localId)).vendorNumber, null);
    await desk.recoverNumbers();
    assert.equal((await desk.get(opened.localId)).vendorNumber, 'P-000001');
  });
});

async function waitForNumber(desk: ProblemDesk, localId: string): Promise<void> {
  await until(async () => (await desk.get(localId)).vendorNumber !== null);
}

/** Looks again every few milliseconds until check() holds; fails after 5 s. */
async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
