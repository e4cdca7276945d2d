import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sourceOf } from './source-address.js';

test('IPv4 addresses are their own source; IPv4-mapped IPv6 addresses count as their IPv4 address', () => {
  assert.equal(sourceOf('192.0.2.7'), '192.0.2.7');
  assert.equal(sourceOf('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(sourceOf('::FFFF:127.0.0.1'), '127.0.0.1');
  assert.equal(sourceOf('::ffff:c000:20a'), '192.0.2.10');
});

test('IPv6 addresses count by their /64, whatever the spelling', () => {
  const a = sourceOf('2001:db8:1:2:aaaa::1');
  assert.equal(a, '2001:db8:1:2::/64');
  assert.equal(sourceOf('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), a);
  assert.equal(sourceOf('2001:DB8:1:2::5%eth0'), a);
  assert.notEqual(sourceOf('2001:db8:1:3::1'), a);
  assert.equal(sourceOf('::1'), '0:0:0:0::/64');
  assert.equal(sourceOf('fe80::1.2.3.4'), 'fe80:0:0:0::/64');
  assert.equal(sourceOf('1:2:3:4:5:6:7:8'), '1:2:3:4::/64');
});

test('a missing address has a source of its own', () => {
  assert.equal(sourceOf(undefined), 'unknown');
});
