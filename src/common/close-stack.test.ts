import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseStack } from './close-stack.js';

test('closes in reverse order, each close awaited before the next starts', async () => {
  const log: string[] = [];
  const stack = new CloseStack({ onError: (err) => assert.fail(String(err)) });
  stack.defer('first', () => log.push('first'));
  const second = stack.use('second', {
    close: async () => {
      log.push('second begins');
      await new Promise((resolve) => setImmediate(resolve));
      log.push('second ends');
    },
  });
  stack.defer('third', () => log.push('third'));
  assert.equal(typeof second.close, 'function', 'use() returns what it was given');
  await stack.close();
  assert.deepEqual(log, ['third', 'second begins', 'second ends', 'first']);
});

test('a close that fails is reported and the earlier ones still run', async () => {
  const log: string[] = [];
  const failures: [string, string][] = [];
  const stack = new CloseStack({ onError: (err, name) => failures.push([name, (err as Error).message]) });
  stack.defer('database', () => log.push('database'));
  stack.defer('timer', () => {
    throw new Error('already gone');
  });
  stack.defer('socket', () => Promise.reject(new Error('reset')));
  await stack.close();
  assert.deepEqual(log, ['database']);
  assert.deepEqual(failures, [
    ['socket', 'reset'],
    ['timer', 'already gone'],
  ]);
});

test('closing twice closes once; nothing may be opened once closing began', async () => {
  let closes = 0;
  const stack = new CloseStack({ onError: (err) => assert.fail(String(err)) });
  stack.defer('once', () => closes++);
  const first = stack.close();
  assert.equal(stack.close(), first, 'the same promise');
  await first;
  await stack.close();
  assert.equal(closes, 1);
  assert.throws(
    () => stack.defer('late', () => undefined),
    /late was opened after its process began to close/,
  );
});
