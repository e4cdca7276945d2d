import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goawayHintText, parseGoawayHint } from './goaway-hint.js';

test('an admission hint: the wait and the reason, to be honoured on the same hub address', () => {
  assert.deepEqual(parseGoawayHint('retry-after-ms=2500; too many stations'), {
    retryAfterMs: 2500,
    reason: 'too many stations',
    elsewhere: false,
  });
  assert.deepEqual(parseGoawayHint('retry-after-ms=1000'), {
    retryAfterMs: 1000,
    reason: 'too many stations connecting',
    elsewhere: false,
  });
});

test('a drain hint says reconnect elsewhere, and reads back what goawayHintText wrote', () => {
  const text = goawayHintText({ retryAfterMs: 5000, reason: 'the hub node is draining', elsewhere: true });
  assert.equal(text, 'retry-after-ms=5000; reconnect=elsewhere; the hub node is draining');
  assert.deepEqual(parseGoawayHint(text), {
    retryAfterMs: 5000,
    reason: 'the hub node is draining',
    elsewhere: true,
  });
  assert.deepEqual(parseGoawayHint('retry-after-ms=10; reconnect=elsewhere'), {
    retryAfterMs: 10,
    reason: 'the hub node is draining',
    elsewhere: true,
  });
  // The marker counts only as the first word of the reason.
  assert.equal(parseGoawayHint('retry-after-ms=10; busy, reconnect=elsewhere')?.elsewhere, false);
});

test('other debug data is no hint, and a wait is capped at 60 s', () => {
  assert.equal(parseGoawayHint('retry-after-ms=999999; x')?.retryAfterMs, 60_000);
  assert.equal(parseGoawayHint('the station is revoked'), undefined);
  assert.equal(parseGoawayHint('retry-after-ms=soon'), undefined);
  assert.equal(parseGoawayHint('the hub is shutting down'), undefined);
});
