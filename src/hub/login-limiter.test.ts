import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../common/clock.js';
import { LoginLimiter, loginConfigSchema } from './login-limiter.js';

const limits = { maxFailuresPerUser: 5, maxFailuresPerAddress: 30, windowMs: 15 * 60_000 };

test('five failures for a user limit that user, from any address, until the window frees up', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter(limits, clock);
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(limiter.attempt('ana', '10.0.0.1'), { ok: true });
    clock.advance(1000);
  }
  // 5 s after the first failure (at 0): the user is free again at 15 min.
  const verdict = limiter.attempt('ana', '10.0.0.2');
  assert.deepEqual(verdict, { ok: false, scope: 'user', retryAfterMs: 15 * 60_000 - 5000 });
  assert.equal(limiter.attempt('ANA', '10.0.0.3').ok, false, 'names are counted without case');
  assert.deepEqual(limiter.attempt('bob', '10.0.0.1'), { ok: true }, 'another user is not limited');
  clock.advance(15 * 60_000 - 5000);
  assert.deepEqual(limiter.attempt('ana', '10.0.0.1'), { ok: true }, 'the oldest failure left the window');
  assert.equal(limiter.attempt('ana', '10.0.0.1').ok, false, 'five failures in the window again');
});

test('refused attempts do not extend the wait', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter({ ...limits, maxFailuresPerUser: 2 }, clock);
  limiter.attempt('ana', '10.0.0.1');
  limiter.attempt('ana', '10.0.0.1');
  for (let i = 0; i < 10; i++) {
    clock.advance(60_000);
    assert.equal(limiter.attempt('ana', '10.0.0.1').ok, false);
  }
  clock.advance(5 * 60_000);
  assert.equal(limiter.attempt('ana', '10.0.0.1').ok, true);
});

test('a successful login resets the user count and takes back its address count', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter({ ...limits, maxFailuresPerAddress: 6 }, clock);
  for (let i = 0; i < 4; i++) limiter.attempt('ana', '10.0.0.1');
  limiter.attempt('ana', '10.0.0.1');
  limiter.succeeded('ana', '10.0.0.1');
  // The user's count is 0; the address holds the 4 failures.
  for (let i = 0; i < 2; i++) assert.equal(limiter.attempt('ana', '10.0.0.1').ok, true);
  const verdict = limiter.attempt('carl', '10.0.0.1');
  assert.equal(verdict.ok, false, 'the address reached 6 failures');
  assert.equal(!verdict.ok && verdict.scope, 'address');
  assert.equal(limiter.attempt('ana', '10.0.0.9').ok, true, 'the user has 2 failures, under 5');
});

test('a forgiven attempt (right password, code missing) counts for neither', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter({ ...limits, maxFailuresPerUser: 2, maxFailuresPerAddress: 2 }, clock);
  for (let i = 0; i < 10; i++) {
    assert.equal(limiter.attempt('ana', '10.0.0.1').ok, true);
    limiter.forgive('ana', '10.0.0.1');
  }
});

test('thirty failures from one address limit every user name from it', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter(limits, clock);
  for (let i = 0; i < 30; i++) {
    assert.equal(limiter.attempt(`guess${i}`, '192.0.2.7').ok, true);
    clock.advance(10_000);
  }
  const verdict = limiter.attempt('someone-new', '192.0.2.7');
  assert.deepEqual(verdict, { ok: false, scope: 'address', retryAfterMs: 15 * 60_000 - 300_000 });
  assert.deepEqual(limiter.attempt('someone-new', '192.0.2.8'), { ok: true });
});

test('the time to wait is never zero while limited', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter(
    { maxFailuresPerUser: 1, maxFailuresPerAddress: 1, windowMs: 1000 },
    clock,
  );
  limiter.attempt('ana', '10.0.0.1');
  clock.advance(999);
  const verdict = limiter.attempt('ana', '10.0.0.1');
  assert.equal(verdict.ok, false);
  assert.equal(!verdict.ok && verdict.retryAfterMs, 1);
  clock.advance(1);
  assert.equal(limiter.attempt('ana', '10.0.0.1').ok, true);
});

test('hub.yaml login: defaults, durations, and errors that name the expected form', () => {
  assert.deepEqual(loginConfigSchema.parse(undefined), {
    maxFailuresPerUser: 5,
    maxFailuresPerAddress: 30,
    window: 15 * 60_000,
  });
  assert.deepEqual(loginConfigSchema.parse({ maxFailuresPerUser: 3, window: '1h' }), {
    maxFailuresPerUser: 3,
    maxFailuresPerAddress: 30,
    window: 3_600_000,
  });
  const bad = loginConfigSchema.safeParse({ maxFailuresPerUser: 0 });
  assert.equal(bad.success, false);
  assert.match(bad.error?.issues[0]?.message ?? '', /failed logins per user/);
  assert.equal(loginConfigSchema.safeParse({ perUser: 3 }).success, false, 'unknown keys are errors');
});
