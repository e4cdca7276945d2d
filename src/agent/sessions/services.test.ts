// Where a service may point: loopback or an address of this machine, in canonical form.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { checkServiceHost } from './services.js';

test("loopback in any of its forms, and this machine's own addresses, are accepted", () => {
  assert.equal(checkServiceHost('localhost', '--host'), '127.0.0.1');
  assert.equal(checkServiceHost('127.0.0.1', '--host'), '127.0.0.1');
  assert.equal(checkServiceHost('127.9.8.7', '--host'), '127.9.8.7');
  assert.equal(checkServiceHost('::1', '--host'), '::1');
  const own = Object.values(networkInterfaces())
    .flat()
    .map((i) => i?.address)
    .filter((a): a is string => a !== undefined);
  for (const address of own) assert.equal(checkServiceHost(address, 'host'), address);
});

test('names, other machines and the wildcard are refused, naming the field', () => {
  assert.throws(() => checkServiceHost('example.com', '--host'), {
    code: 'POLICY_TARGET_INVALID',
    message: '--host: expected an IP address of this appliance (such as 127.0.0.1), got "example.com"',
  });
  for (const host of ['192.0.2.1', '0.0.0.0', '::', '2001:db8::1'])
    assert.throws(() => checkServiceHost(host, 'host'), {
      code: 'POLICY_TARGET_INVALID',
      message: `host: ${host} is not loopback nor an address of this appliance`,
    });
});
