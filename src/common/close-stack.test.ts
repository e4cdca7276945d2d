import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseStack } from './close-stack.js';

test('parts close in reverse order, each awaited before the one added before it', async () => {
  const stack = new CloseStack();
  const log: string[] = [];
  // Each part finishes closing on a later turn of the event loop: the next must wait for it.
  const part = (name: string) => ({
    name,
    close: () =>
      new Promise<void>((resolve) => {
        log.push(`${name} closing`);
        setImmediate(() => {
          log.push(`${name} closed`);
          resolve();
        });
      }),
  });
  assert.equal(stack.use(part('store')).name, 'store');
  stack.defer(() => {
    log.push('flush');
  });
  stack.use(part('server'));
  await stack.close();
  assert.deepEqual(log, ['server closing', 'server closed', 'flush', 'store closing', 'store closed']);
});

test('a part that fails to close leaves none open; the first error is thrown after all ran', async () => {
  const stack = new CloseStack();
  const closed: string[] = [];
  stack.defer(() => {
    closed.push('first');
  });
  stack.defer(() => {
    throw new Error('second failed');
  });
  stack.defer(async () => {
    closed.push('third');
    await Promise.reject(new Error('third failed'));
  });
  await assert.rejects(stack.close(), /third failed/);
  assert.deepEqual(closed, ['third', 'first']);
});

test('close is idempotent, and nothing can be added once it began', async () => {
  const stack = new CloseStack();
  let closes = 0;
  stack.defer(() => {
    closes += 1;
  });
  const first = stack.close();
  assert.throws(() => stack.defer(() => undefined), /closing/);
  await Promise.all([first, stack.close()]);
  await stack.close();
  assert.equal(closes, 1);
});
