import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../common/clock.js';
import { TunnelAdmission, retryAfterMaxMs, retryAfterMinMs, retryLaterMessage } from './admission.js';

/** The most admissions found in any half-open window [t, t + 1000) of sorted times. */
function maxInAnyWindow(sortedMs: readonly number[]): number {
  let most = 0;
  let first = 0;
  for (let last = 0; last < sortedMs.length; last += 1) {
    while ((sortedMs[last] ?? 0) - (sortedMs[first] ?? 0) >= 1000) first += 1;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

test('a burst admits exactly the rate, then refuses until a second has passed', () => {
  const clock = new ManualClock();
  const admission = new TunnelAdmission({ tunnelsPerSecond: 50, clock });
  const first = Array.from({ length: 80 }, () => admission.tryAdmit());
  assert.equal(first.filter((d) => d.admitted).length, 50);
  assert.ok(
    first.slice(0, 50).every((d) => d.admitted),
    'the first 50 are admitted',
  );
  clock.advance(999);
  assert.equal(admission.tryAdmit().admitted, false, 'still inside the same second');
  clock.advance(1);
  assert.equal(admission.tryAdmit().admitted, true, 'a second after the first admission');
  assert.deepEqual(admission.stats(), { admitted: 51, refused: 31 });
});

test('no one-second window ever holds more admissions than the rate (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }),
      fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 1, maxLength: 2000 }),
      (tunnelsPerSecond, stepsMs) => {
        const clock = new ManualClock();
        const admission = new TunnelAdmission({ tunnelsPerSecond, clock });
        const admittedAtMs: number[] = [];
        for (const stepMs of stepsMs) {
          clock.advance(stepMs);
          const decision = admission.tryAdmit();
          assert.equal(decision.atMs, clock.now());
          if (decision.admitted) {
            admittedAtMs.push(clock.now());
          } else {
            assert.ok(decision.retryAfterMs >= retryAfterMinMs && decision.retryAfterMs <= retryAfterMaxMs);
            assert.ok(Number.isInteger(decision.retryAfterMs));
            // Refused only when the window is really full: the rate-th admission back is under 1 s old.
            const window = admittedAtMs.filter((t) => clock.now() - t < 1000);
            assert.equal(window.length, tunnelsPerSecond);
          }
        }
        assert.ok(maxInAnyWindow(admittedAtMs) <= tunnelsPerSecond);
        const { admitted, refused } = admission.stats();
        assert.equal(admitted, admittedAtMs.length);
        assert.equal(admitted + refused, stepsMs.length);
      },
    ),
    { interruptAfterTimeLimit: 5000, numRuns: 300 },
  );
});

test('a refused crowd is asked to come back spread out, no faster than the rate', () => {
  const clock = new ManualClock();
  const admission = new TunnelAdmission({ tunnelsPerSecond: 50, clock });
  for (let i = 0; i < 50; i += 1) admission.tryAdmit();
  const waits: number[] = [];
  for (let i = 0; i < 950; i += 1) {
    const decision = admission.tryAdmit();
    assert.equal(decision.admitted, false);
    if (!decision.admitted) waits.push(decision.retryAfterMs);
  }
  // The k-th refused station waits 1 s + k/rate.
  assert.equal(waits[0], 1020);
  assert.equal(waits[49], 2000);
  assert.equal(waits[99], 3000);
  assert.equal(waits[949], 20_000);
  assert.ok(
    waits.every((w, i) => i === 0 || w >= (waits[i - 1] ?? 0)),
    'waits grow with the crowd',
  );
  // Each comes back uniformly in [N, 2N): the expected arrivals in any second stay under the rate.
  for (let second = 0; second < 40; second += 1) {
    const expected = waits.reduce((sum, n) => {
      const from = Math.max(n, second * 1000);
      const to = Math.min(2 * n, (second + 1) * 1000);
      return sum + Math.max(0, to - from) / n;
    }, 0);
    assert.ok(expected <= 50 * Math.LN2 + 1, `second ${second}: ${expected.toFixed(1)} expected arrivals`);
  }
});

test('waits are capped at 60 s and shrink again once the crowd is gone', () => {
  const clock = new ManualClock();
  const admission = new TunnelAdmission({ tunnelsPerSecond: 1, clock });
  let last = 0;
  for (let i = 0; i < 500; i += 1) {
    const decision = admission.tryAdmit();
    if (!decision.admitted) last = decision.retryAfterMs;
  }
  assert.equal(last, retryAfterMaxMs);
  clock.advance(59_500);
  admission.tryAdmit(); // admitted: the window has moved on
  const after = admission.tryAdmit();
  assert.equal(after.admitted, false);
  if (!after.admitted) assert.ok(after.retryAfterMs <= 2000, `waited ${after.retryAfterMs} ms`);
});

test('the rate must be a positive whole number', () => {
  const clock = new ManualClock();
  assert.throws(() => new TunnelAdmission({ tunnelsPerSecond: 0, clock }), RangeError);
  assert.throws(() => new TunnelAdmission({ tunnelsPerSecond: 2.5, clock }), RangeError);
});

test('the retry-later message is what agents parse', () => {
  assert.equal(retryLaterMessage(1500, 'busy'), 'retry-after-ms=1500; busy');
  assert.match(retryLaterMessage(60_000, 'x'), /^retry-after-ms=(\d+); /);
});

test('a draining node refuses every new tunnel with a hint to go elsewhere, until its deadline', () => {
  const clock = new ManualClock();
  const admission = new TunnelAdmission({ tunnelsPerSecond: 50, clock });
  assert.equal(admission.tryAdmit().admitted, true);
  admission.drain(clock.now() + 30_000);
  assert.equal(admission.draining, true);
  const refused = admission.tryAdmit();
  assert.equal(refused.admitted, false);
  if (refused.admitted) return;
  assert.equal(refused.elsewhere, true);
  assert.equal(refused.retryAfterMs, 5000, 'a short wait, not the whole deadline');
  assert.match(refused.reason, /draining/);
  assert.equal(
    retryLaterMessage(refused.retryAfterMs, refused.reason, refused.elsewhere),
    `retry-after-ms=5000; reconnect=elsewhere; ${refused.reason}`,
  );
  // A second drain does not move the deadline; past it the wait is the shortest one.
  admission.drain(clock.now() + 90_000);
  clock.advance(29_500);
  const late = admission.tryAdmit();
  assert.equal(!late.admitted && late.retryAfterMs, retryAfterMinMs);
  assert.deepEqual(admission.stats(), { admitted: 1, refused: 2 });
});
