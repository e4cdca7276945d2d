import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Backoff } from './backoff.js';

const minMs = 1000;
const maxMs = 60_000;
const startMs = Date.UTC(2026, 0, 1);

/** The largest value Math.random can return. */
const almostOne = 1 - Number.EPSILON / 2;

test('the first wait of an outage is at most the floor', () => {
  const backoff = new Backoff({ minMs, maxMs, random: () => almostOne });
  assert.equal(backoff.ceilingMs(startMs), minMs);
  const other = new Backoff({ minMs, maxMs, random: () => almostOne });
  assert.equal(other.nextDelayMs(startMs), minMs - 1);
});

test('the ceiling is the outage time so far, clamped to [min, max]', () => {
  const backoff = new Backoff({ minMs, maxMs, random: () => 0.5 });
  const expected: [offsetMs: number, ceilingMs: number][] = [
    [0, 1000],
    [400, 1000],
    [1000, 1000],
    [2500, 2500],
    [10_000, 10_000],
    [59_999, 59_999],
    [60_000, 60_000],
    [600_000, 60_000],
    [86_400_000, 60_000],
  ];
  for (const [offsetMs, ceilingMs] of expected) {
    assert.equal(backoff.ceilingMs(startMs + offsetMs), ceilingMs, `after ${offsetMs} ms`);
  }
});

test('the wait is uniform in [0, ceiling]: random() scales the ceiling, rounded down', () => {
  const values = [0, 0.25, 0.5, 0.999, almostOne];
  for (const value of values) {
    const backoff = new Backoff({ minMs, maxMs, random: () => value });
    backoff.ceilingMs(startMs);
    assert.equal(backoff.nextDelayMs(startMs + 20_000), Math.floor(value * 20_000), `random ${value}`);
  }
});

test('a simulated outage grows the ceiling exponentially up to the maximum', () => {
  // Each attempt happens after the previous wait; waits are half the ceiling on average.
  const backoff = new Backoff({ minMs, maxMs, random: () => 0.5 });
  let nowMs = startMs;
  const ceilings: number[] = [];
  for (let attempt = 0; attempt < 30; attempt++) {
    ceilings.push(backoff.ceilingMs(nowMs));
    nowMs += backoff.nextDelayMs(nowMs);
  }
  for (let i = 1; i < ceilings.length; i++) {
    assert.ok((ceilings[i] ?? 0) >= (ceilings[i - 1] ?? 0), `ceiling ${i} never shrinks`);
  }
  assert.equal(ceilings[0], minMs);
  assert.equal(ceilings.at(-1), maxMs);
  // From the floor to the cap in a handful of attempts, not hundreds.
  assert.ok(ceilings.indexOf(maxMs) < 15, `reached ${maxMs} at attempt ${ceilings.indexOf(maxMs)}`);
});

test('reset starts the next outage from the floor again', () => {
  const backoff = new Backoff({ minMs, maxMs, random: () => almostOne });
  backoff.ceilingMs(startMs);
  assert.equal(backoff.ceilingMs(startMs + 300_000), maxMs);
  backoff.reset();
  assert.equal(backoff.ceilingMs(startMs + 400_000), minMs);
  assert.equal(backoff.ceilingMs(startMs + 403_000), 3000);
  backoff.reset();
  assert.ok(backoff.nextDelayMs(startMs + 500_000) < minMs);
});

test('a short outage never waits much longer than it lasted', () => {
  const backoff = new Backoff({ minMs, maxMs, random: () => almostOne });
  backoff.nextDelayMs(startMs);
  assert.ok(backoff.nextDelayMs(startMs + 3000) <= 3000);
});

test('the bounds must be 0 < minMs <= maxMs', () => {
  for (const bounds of [
    { minMs: 0, maxMs: 1000 },
    { minMs: -1, maxMs: 1000 },
    { minMs: 2000, maxMs: 1000 },
    { minMs: Number.NaN, maxMs: 1000 },
    { minMs: 1000, maxMs: Number.NaN },
  ]) {
    assert.throws(() => new Backoff(bounds), RangeError, JSON.stringify(bounds));
  }
  assert.equal(new Backoff({ minMs: 5, maxMs: 5 }).ceilingMs(0), 5);
});

test('Math.random is the default source of jitter', () => {
  const backoff = new Backoff({ minMs, maxMs });
  backoff.ceilingMs(startMs);
  for (let i = 1; i <= 100; i++) {
    const delayMs = backoff.nextDelayMs(startMs + i * 1000);
    assert.ok(delayMs >= 0 && delayMs <= Math.max(minMs, i * 1000));
  }
});

test('property: never more than the ceiling, and the ceiling is the clamped outage time', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100_000 }),
      fc.integer({ min: 0, max: 1_000_000 }),
      fc.array(
        fc.record({
          stepMs: fc.integer({ min: 0, max: 120_000 }),
          random: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
          reset: fc.boolean(),
        }),
        { minLength: 1, maxLength: 60 },
      ),
      (min, extra, steps) => {
        const max = min + extra;
        let random = 0;
        const backoff = new Backoff({ minMs: min, maxMs: max, random: () => random });
        let nowMs = startMs;
        let outageStartMs: number | undefined;
        for (const step of steps) {
          nowMs += step.stepMs;
          if (step.reset) {
            backoff.reset();
            outageStartMs = undefined;
          }
          outageStartMs ??= nowMs;
          random = step.random;
          const ceilingMs = Math.min(max, Math.max(min, nowMs - outageStartMs));
          assert.equal(backoff.ceilingMs(nowMs), ceilingMs);
          const delayMs = backoff.nextDelayMs(nowMs);
          assert.ok(Number.isInteger(delayMs), `delay ${delayMs} is whole milliseconds`);
          assert.ok(delayMs >= 0 && delayMs <= ceilingMs, `delay ${delayMs} within [0, ${ceilingMs}]`);
          assert.ok(delayMs <= max);
        }
      },
    ),
    { numRuns: 2000, interruptAfterTimeLimit: 5000 },
  );
});
