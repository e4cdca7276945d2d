import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { listenError } from './listen-error.js';

const listen = (server: Server, port: number, host: string) =>
  new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });

test('a port in use is CONFIG_INVALID naming the address and the setting, with the system error as cause', async () => {
  const taken = createServer();
  await listen(taken, 0, '127.0.0.1');
  const { port } = taken.address() as { port: number };
  const second = createServer();
  try {
    const failure = await listen(second, port, '127.0.0.1').then(
      () => assert.fail('listened twice on one port'),
      (err: unknown) => err,
    );
    const error = listenError(
      failure,
      'the technician API',
      { host: '127.0.0.1', port },
      'apiListen in hub.yaml',
    );
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.equal(
      error.message,
      `the technician API cannot listen on 127.0.0.1:${port} (apiListen in hub.yaml): the address is in use (another process listens on it)`,
    );
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'EADDRINUSE');
  } finally {
    second.close();
    taken.close();
  }
});

test('an IPv6 address is written in brackets; an unknown failure keeps its own message', () => {
  const error = listenError(
    new Error('boom'),
    'the station port',
    { host: '::1', port: 8443 },
    'listen in hub.yaml',
  );
  assert.equal(error.message, 'the station port cannot listen on [::1]:8443 (listen in hub.yaml): boom');
});
