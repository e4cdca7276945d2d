import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { LifelineError } from '../errors.js';
import { listenError } from './listen-error.js';

test('an address in use: API_LISTEN_FAILED naming the listener, the address and the setting, with the cause', async () => {
  const taken = createServer();
  taken.listen(0, '127.0.0.1');
  await once(taken, 'listening');
  const { port } = taken.address() as AddressInfo;
  const second = createServer();
  second.listen(port, '127.0.0.1');
  const [err] = (await once(second, 'error')) as [Error];
  taken.close();
  const error = listenError(err, 'the admin API', { host: '127.0.0.1', port }, '--admin-listen');
  assert.ok(error instanceof LifelineError);
  assert.equal(error.code, 'API_LISTEN_FAILED');
  assert.equal(
    error.message,
    `the admin API cannot listen on 127.0.0.1:${port}: the address is in use (another process listens on it); choose another address with --admin-listen`,
  );
  assert.equal(error.cause, err);
});

test('an IPv6 address in brackets; an unknown failure keeps its own message', () => {
  const error = listenError(new Error('boom'), 'the API', { host: '::1', port: 8443 }, 'apiListen');
  assert.equal(
    error.message,
    'the API cannot listen on [::1]:8443: boom; choose another address with apiListen',
  );
});
