import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Wakeup } from './wakeup.js';

test('a wake-up ends a sleep without a timeout', async () => {
  const wakeup = new Wakeup();
  let ended = false;
  const sleeping = wakeup.sleep(undefined).then(() => (ended = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(ended, false);
  wakeup.wake();
  await sleeping;
  assert.equal(ended, true);
});

test('a wake-up before the sleep is kept until clear()', async () => {
  const wakeup = new Wakeup();
  wakeup.wake();
  const started = performance.now();
  await wakeup.sleep(10_000);
  assert.ok(performance.now() - started < 1000);
  wakeup.clear();
  const timed = performance.now();
  await wakeup.sleep(30);
  assert.ok(performance.now() - timed >= 25);
});
