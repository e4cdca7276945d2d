import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../common/clock.js';
import { silentLogger } from '../../common/logger.js';
import { RefusalAudit, type RefusalSummary, type Timers } from './refusal-audit.js';

/** Timers run by the test: `due()` runs those whose time came on the manual clock. */
class ManualTimers implements Timers {
  readonly #clock: ManualClock;
  readonly pending = new Map<number, { atMs: number; run: () => void }>();
  #next = 1;

  constructor(clock: ManualClock) {
    this.#clock = clock;
  }

  set(run: () => void, delayMs: number): number {
    const id = this.#next++;
    this.pending.set(id, { atMs: this.#clock.now() + delayMs, run });
    return id;
  }

  clear(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  due(): void {
    for (const [id, timer] of [...this.pending]) {
      if (timer.atMs > this.#clock.now()) continue;
      this.pending.delete(id);
      timer.run();
    }
  }
}

function setUp(limits = { intervalMs: 60_000, maxAttempts: 5, auditedRefusals: 2 }) {
  const clock = new ManualClock();
  const timers = new ManualTimers(clock);
  const written: { actor: string; summary: RefusalSummary }[] = [];
  let failWrites = false;
  const audit = new RefusalAudit({
    limits,
    clock,
    logger: silentLogger(),
    timers,
    write: async (actor, summary) => {
      if (failWrites) throw new Error('disk full');
      written.push({ actor, summary });
    },
  });
  return { clock, timers, written, audit, failWrites: (fail: boolean) => (failWrites = fail) };
}

/** Lets the summary writes (promises) settle. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

test('the first refusals of an interval are audited on their own; the rest make one summary when it ends', async () => {
  const { clock, timers, written, audit } = setUp();
  const actor = 'technician:ana';
  const own: boolean[] = [];
  for (let i = 0; i < 7; i++) {
    const alone = audit.auditOnItsOwn(actor);
    own.push(alone);
    if (!alone) audit.summarise(actor, i % 2 === 0 ? 'POLICY_PENDING_APPROVAL' : 'TICKET_EXPIRED');
    clock.advance(1000);
  }
  assert.deepEqual(own, [true, true, false, false, false, false, false]);
  // Another actor has its own interval.
  assert.equal(audit.auditOnItsOwn('technician:bob'), true);
  assert.deepEqual(written, [], 'nothing is written before the interval ends');
  // The flood stopped: the timer writes the summary at the interval's end all the same.
  clock.advance(60_000 - 7000);
  timers.due();
  await settled();
  assert.deepEqual(written, [
    {
      actor,
      summary: {
        count: 5,
        codes: { POLICY_PENDING_APPROVAL: 3, TICKET_EXPIRED: 2 },
        audited: 2,
        fromMs: clock.now() - 60_000,
        untilMs: clock.now(),
      },
    },
  ]);
  // A new interval: refusals are audited on their own again.
  assert.equal(audit.auditOnItsOwn(actor), true);
  assert.equal(timers.pending.size, 0, 'no timer without a summary to write');
});

test('a refusal after the interval ended writes the old summary first, even before its timer ran', async () => {
  const { clock, written, audit } = setUp({ intervalMs: 10_000, maxAttempts: 5, auditedRefusals: 0 });
  audit.summarise('hub', 'TICKET_INVALID');
  clock.advance(10_000);
  assert.equal(audit.auditOnItsOwn('hub'), false);
  audit.summarise('hub', 'TICKET_EXPIRED');
  await settled();
  assert.deepEqual(
    written.map((w) => w.summary.codes),
    [{ TICKET_INVALID: 1 }],
  );
  await audit.flush();
  assert.deepEqual(
    written.map((w) => [w.summary.codes, w.summary.fromMs === clock.now()]),
    [
      [{ TICKET_INVALID: 1 }, false],
      [{ TICKET_EXPIRED: 1 }, true],
    ],
  );
});

test('attempts past the bound are refused until the interval ends, with how long to wait', () => {
  const { clock, audit } = setUp({ intervalMs: 60_000, maxAttempts: 3, auditedRefusals: 2 });
  for (let i = 0; i < 3; i++) assert.equal(audit.attempt('technician:ana'), undefined);
  clock.advance(20_000);
  assert.equal(audit.attempt('technician:ana'), 40_000);
  assert.equal(audit.attempt('technician:bob'), undefined, 'each technician has its own bound');
  clock.advance(40_000);
  assert.equal(audit.attempt('technician:ana'), undefined);
});

test('shutdown writes the summaries under way; a failed write is tried again, never dropped', async () => {
  const { clock, timers, written, audit, failWrites } = setUp({
    intervalMs: 60_000,
    maxAttempts: 100,
    auditedRefusals: 0,
  });
  audit.summarise('technician:ana', 'POLICY_ACCESS_NONE');
  clock.advance(60_000);
  failWrites(true);
  timers.due();
  await settled();
  assert.equal(written.length, 0);
  // The retry comes an interval later; this time the store takes it.
  failWrites(false);
  clock.advance(60_000);
  timers.due();
  await settled();
  assert.deepEqual(
    written.map((w) => w.summary.count),
    [1],
  );
  audit.summarise('technician:ana', 'POLICY_ACCESS_NONE');
  audit.summarise('technician:ana', 'POLICY_ACCESS_NONE');
  clock.advance(5000);
  await audit.flush();
  assert.deepEqual(
    written.map((w) => [w.summary.count, w.summary.untilMs - w.summary.fromMs]),
    [
      [1, 60_000],
      [2, 5000],
    ],
  );
  assert.equal(timers.pending.size, 0, 'no timer is left behind');
});
