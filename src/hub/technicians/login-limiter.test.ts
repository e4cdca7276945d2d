import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../common/clock.js';
import { LoginLimiter } from './login-limiter.js';
import { loginConfigSchema } from './login-config.js';

const minute = 60_000;
const limits = {
  maxFailuresPerUser: 10,
  maxFailuresPerAddress: 30,
  windowMs: 15 * minute,
  backoffMs: 1000,
  maxBackoffMs: 15 * minute,
};

test('failures of one user from one address make that pair wait, twice as long after each', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter(limits, clock);
  // A first mistake costs nothing.
  assert.deepEqual(limiter.attempt('ana', '10.0.0.1'), { ok: true });
  const waits: number[] = [];
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(limiter.attempt('ana', '10.0.0.1'), { ok: true });
    const verdict = limiter.attempt('ana', '10.0.0.1');
    assert.equal(verdict.ok, false);
    assert.equal(!verdict.ok && verdict.scope, 'pair');
    waits.push(!verdict.ok ? verdict.retryAfterMs : 0);
    clock.advance(waits.at(-1) ?? 0);
  }
  assert.deepEqual(waits, [1000, 2000, 4000, 8000, 16_000]);
  assert.deepEqual(limiter.attempt('ana', '10.0.0.1'), { ok: true });
  assert.equal(limiter.attempt('ANA', '10.0.0.1').ok, false, 'names are counted without case');
  // The user from another address, and another user from this one, do not wait.
  assert.deepEqual(limiter.attempt('ana', '10.0.0.2'), { ok: true });
  assert.deepEqual(limiter.attempt('bob', '10.0.0.1'), { ok: true });
});

test('the back-off stops growing at maxBackoff, and starts over after a window of quiet', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter({ ...limits, maxBackoffMs: 5000, maxFailuresPerUser: 1000 }, clock);
  for (let i = 0; i < 12; i++) {
    assert.equal(limiter.attempt('ana', '10.0.0.1').ok, true, `attempt ${i + 1}`);
    clock.advance(5000);
  }
  assert.equal(limiter.attempt('ana', '10.0.0.1').ok, true, 'the 13th waited 5 s, as long as the 4th');
  // Quiet for the wait (5 s) and a window (15 min) after it: forgotten.
  clock.advance(5000 + 15 * minute);
  limiter.attempt('ana', '10.0.0.1');
  limiter.attempt('ana', '10.0.0.1');
  const fresh = limiter.attempt('ana', '10.0.0.1');
  assert.deepEqual(fresh, { ok: false, scope: 'pair', retryAfterMs: 1000 }, 'the back-off starts over');
});

test('an attack on a user from one address never locks the user out of an address of their own', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter(limits, clock);
  // The attacker tries as fast as the back-off lets it, for an hour.
  let attempts = 0;
  for (let t = 0; t < 60 * minute; t += 1000) {
    if (limiter.attempt('victim', '203.0.113.9').ok) attempts += 1;
    clock.advance(1000);
  }
  assert.ok(attempts <= 15, `${attempts} guesses in an hour`);
  // The real user, from home, with the right password.
  assert.deepEqual(limiter.attempt('victim', '198.51.100.4'), { ok: true });
  limiter.succeeded('victim', '198.51.100.4');
  assert.deepEqual(limiter.attempt('victim', '198.51.100.4'), { ok: true });
});

test('past maxFailuresPerUser from many addresses, only the addresses that failed are held back', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter({ ...limits, maxFailuresPerUser: 4 }, clock);
  for (let i = 1; i <= 4; i++) {
    assert.equal(limiter.attempt('ana', `192.0.2.${i}`).ok, true);
    clock.advance(10_000);
  }
  // 192.0.2.1 failed 40 s ago: its own back-off is over, but the user is over the limit. The
  // user count frees at 15 min after the first failure; the address too (its only failure).
  assert.deepEqual(limiter.attempt('ana', '192.0.2.1'), {
    ok: false,
    scope: 'user',
    retryAfterMs: 15 * minute - 40_000,
  });
  // An address with no failure for this user may still try (once: a failure holds it back too).
  assert.deepEqual(limiter.attempt('ana', '192.0.2.50'), { ok: true });
  clock.advance(2000);
  const after = limiter.attempt('ana', '192.0.2.50');
  assert.equal(!after.ok && after.scope, 'user');
  // Other users are not affected.
  assert.deepEqual(limiter.attempt('bob', '192.0.2.1'), { ok: true });
  clock.advance(15 * minute);
  assert.deepEqual(limiter.attempt('ana', '192.0.2.1'), { ok: true });
});

test("a successful login forgets the user's failures from that address, not those from elsewhere", () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter({ ...limits, maxFailuresPerUser: 3 }, clock);
  limiter.attempt('ana', '10.0.0.9');
  clock.advance(1000);
  limiter.attempt('ana', '10.0.0.1');
  clock.advance(1000);
  limiter.attempt('ana', '10.0.0.1');
  limiter.succeeded('ana', '10.0.0.1');
  // Ana's count is 1 (from 10.0.0.9): two more failures elsewhere are under the limit of 3.
  assert.equal(limiter.attempt('ana', '10.0.0.2').ok, true);
  clock.advance(2000);
  assert.equal(limiter.attempt('ana', '10.0.0.9').ok, true);
  clock.advance(2000);
  // Now 3: 10.0.0.9 has failed, and is held back; the address that succeeded has no failure left.
  assert.equal(limiter.attempt('ana', '10.0.0.9').ok, false);
  assert.equal(limiter.attempt('ana', '10.0.0.1').ok, true);
});

test('thirty failures from one address limit every user name from it', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter(limits, clock);
  for (let i = 0; i < 30; i++) {
    assert.equal(limiter.attempt(`guess${i}`, '192.0.2.7').ok, true);
    clock.advance(10_000);
  }
  const verdict = limiter.attempt('someone-new', '192.0.2.7');
  assert.deepEqual(verdict, { ok: false, scope: 'address', retryAfterMs: 15 * minute - 300_000 });
  assert.deepEqual(limiter.attempt('someone-new', '192.0.2.8'), { ok: true });
});

test('refused attempts extend no wait; a forgiven attempt (right password, code missing) counts for none', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter(limits, clock);
  limiter.attempt('ana', '10.0.0.1');
  limiter.attempt('ana', '10.0.0.1');
  for (let i = 0; i < 10; i++) {
    clock.advance(90);
    assert.equal(limiter.attempt('ana', '10.0.0.1').ok, false);
  }
  clock.advance(100);
  assert.equal(limiter.attempt('ana', '10.0.0.1').ok, true, '1 s after the failure, as at first');
  limiter.forgive('ana', '10.0.0.1');
  clock.advance(1000);
  for (let i = 0; i < 10; i++) {
    assert.equal(limiter.attempt('carl', '10.0.0.3').ok, true);
    limiter.forgive('carl', '10.0.0.3');
  }
});

test('parallel guesses are limited: an admitted attempt counts at once', () => {
  const limiter = new LoginLimiter(limits, new ManualClock());
  const verdicts = Array.from({ length: 5 }, () => limiter.attempt('ana', '10.0.0.1').ok);
  assert.deepEqual(verdicts, [true, true, false, false, false]);
});

test('the time to wait is never zero while limited', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter(
    { maxFailuresPerUser: 1, maxFailuresPerAddress: 1, windowMs: 1000, backoffMs: 1, maxBackoffMs: 1 },
    clock,
  );
  limiter.attempt('ana', '10.0.0.1');
  limiter.attempt('ana', '10.0.0.2');
  clock.advance(999);
  const verdict = limiter.attempt('ana', '10.0.0.1');
  assert.equal(verdict.ok, false);
  assert.equal(!verdict.ok && verdict.retryAfterMs, 1);
  clock.advance(1);
  assert.equal(limiter.attempt('ana', '10.0.0.1').ok, true);
});

test('hub.yaml login: defaults, the keys kept, the new ones, and errors that name the expected form', () => {
  assert.deepEqual(loginConfigSchema.parse(undefined), {
    maxFailuresPerUser: 10,
    maxFailuresPerAddress: 30,
    window: 15 * minute,
    backoff: 1000,
    maxBackoff: 15 * minute,
  });
  // A hub.yaml written for the old limiter still loads.
  assert.deepEqual(loginConfigSchema.parse({ maxFailuresPerUser: 3, window: '1h' }), {
    maxFailuresPerUser: 3,
    maxFailuresPerAddress: 30,
    window: 3_600_000,
    backoff: 1000,
    maxBackoff: 15 * minute,
  });
  assert.deepEqual(loginConfigSchema.parse({ backoff: '2s', maxBackoff: '1h' }).backoff, 2000);
  const bad = loginConfigSchema.safeParse({ maxFailuresPerUser: 0 });
  assert.equal(bad.success, false);
  assert.match(bad.error?.issues[0]?.message ?? '', /failed logins per user/);
  const inverted = loginConfigSchema.safeParse({ backoff: '1m', maxBackoff: '10s' });
  assert.deepEqual(
    inverted.error?.issues.map((i) => [i.path.join('.'), i.message]),
    [['backoff', 'expected backoff to be at most maxBackoff']],
  );
  assert.match(loginConfigSchema.safeParse({ backoff: 5 }).error?.issues[0]?.message ?? '', /string/);
  assert.equal(loginConfigSchema.safeParse({ perUser: 3 }).success, false, 'unknown keys are errors');
});

test('addresses count as the connection guard counts them: IPv4-mapped as IPv4, IPv6 by its /64', () => {
  const clock = new ManualClock();
  const limiter = new LoginLimiter({ ...limits, maxFailuresPerAddress: 3 }, clock);
  // Three guesses at three users, each from another address of one IPv6 /64.
  for (const [user, address] of [
    ['ana', '2001:db8:1:2::1'],
    ['bob', '2001:db8:1:2::2'],
    ['cy', '2001:db8:1:2:ffff::3'],
  ] as const)
    assert.equal(limiter.attempt(user, address).ok, true);
  const fourth = limiter.attempt('dee', '2001:db8:1:2::4');
  assert.equal(!fourth.ok && fourth.scope, 'address', 'the /64 is one address');
  assert.equal(limiter.attempt('dee', '2001:db8:1:3::4').ok, true, 'the next /64 is another');
  // The same host written as IPv4-mapped IPv6 is the IPv4 address.
  limiter.attempt('eve', '10.0.0.7');
  limiter.attempt('eve', '::ffff:10.0.0.7');
  const mapped = limiter.attempt('eve', '::ffff:10.0.0.7');
  assert.equal(!mapped.ok && mapped.scope, 'pair');
});
