import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { SessionRequestShares } from './session-request-shares.js';
import { LimitReached } from '../shares/index.js';

function refusal(run: () => unknown): LimitReached {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof LimitReached, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

test('a user may make a burst of its share, then as many per window as it refills; others are not slowed', () => {
  const clock = new ManualClock();
  const shares = new SessionRequestShares({ perWindow: 4, windowMs: 60_000, inFlight: 100 }, clock);
  for (let i = 0; i < 4; i++) shares.admit('ana')();
  const refused = refusal(() => shares.admit('ana'));
  assert.equal(refused.code, 'API_LIMIT_REACHED');
  assert.equal(refused.httpStatus, 429);
  assert.equal(refused.limit, 'session-requests');
  // One request comes back every 15 s.
  assert.equal(refused.retryAfterMs, 15_000);
  assert.match(
    refused.message,
    /^user ana made more session requests than one user may \(hub\.yaml shares\.perUser\.sessionRequests: 4 per 1m\): try again in 15 s$/,
  );
  assert.deepEqual(refused.toJSON(), {
    code: 'API_LIMIT_REACHED',
    message: refused.message,
    retryAfterSeconds: 15,
  });
  shares.admit('bob')();
  clock.advance(14_999);
  assert.equal(refusal(() => shares.admit('ana')).retryAfterMs, 1000, 'never less than a second');
  clock.advance(1);
  shares.admit('ana')();
  refusal(() => shares.admit('ana'));
  // A long pause refills the bucket, never past its size.
  clock.advance(3_600_000);
  for (let i = 0; i < 4; i++) shares.admit('ana')();
  refusal(() => shares.admit('ana'));
});

test('requests waiting for their station count apart; one refused for that takes nothing of the rate', () => {
  const clock = new ManualClock();
  const shares = new SessionRequestShares({ perWindow: 3, windowMs: 60_000, inFlight: 2 }, clock);
  const first = shares.admit('ana');
  shares.admit('ana');
  const busy = refusal(() => shares.admit('ana'));
  assert.equal(busy.limit, 'session-opens');
  assert.match(busy.message, /2 session requests waiting .*hub\.yaml shares\.perUser\.sessionOpens/);
  first();
  first();
  // Answered: one place is free again (a second release changes nothing); the rate has one left.
  shares.admit('ana');
  assert.equal(refusal(() => shares.admit('ana')).limit, 'session-opens');
});

test('the refusal is a LifelineError, so every edge answers it with its status and code', () => {
  const shares = new SessionRequestShares({ perWindow: 1, windowMs: 1000, inFlight: 1 }, new ManualClock());
  shares.admit('ana')();
  const refused = refusal(() => shares.admit('ana'));
  assert.ok(refused instanceof LifelineError);
});
