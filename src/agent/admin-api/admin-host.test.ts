// The Host headers the admin API answers to: its own address as connected to, localhost, its
// configured name and the allowed names, each with its port; never a name it was not given.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalAddress } from '../../common/net/index.js';
import { isOwnHost } from './admin-host.js';

const loopback = { localAddress: '127.0.0.1', localPort: 8080 };
const rules = { listenHost: '127.0.0.1', allowedHosts: [] };

test('bound to 127.0.0.1: its address and localhost with its port, nothing else', () => {
  for (const host of ['127.0.0.1:8080', 'localhost:8080', 'LOCALHOST:8080'])
    assert.equal(isOwnHost(host, loopback, rules), true, host);
  for (const host of [
    'evil.example:8080',
    'localhost.evil.example:8080',
    '127.0.0.1.nip.io:8080',
    'localhost.:8080',
    '127.0.0.1:8081',
    'localhost',
    '127.0.0.2:8080',
    '0x7f.1:8080',
    '[::1]:8080',
    '127.0.0.1:8080/path',
    'user@127.0.0.1:8080',
    '127.0.0.1:8080 ',
    '',
    undefined,
  ])
    assert.equal(isOwnHost(host, loopback, rules), false, String(host));
});

test('port 80 may be left out, as browsers do', () => {
  const on80 = { localAddress: '127.0.0.1', localPort: 80 };
  assert.equal(isOwnHost('localhost', on80, rules), true);
  assert.equal(isOwnHost('127.0.0.1', on80, rules), true);
  assert.equal(isOwnHost('localhost:80', on80, rules), true);
});

test('bound to an IPv6 address: the literal in brackets, in any spelling', () => {
  const v6 = { localAddress: '::1', localPort: 8080 };
  const v6rules = { listenHost: '::1', allowedHosts: [] };
  for (const host of ['[::1]:8080', '[0:0:0:0:0:0:0:1]:8080', 'localhost:8080'])
    assert.equal(isOwnHost(host, v6, v6rules), true, host);
  for (const host of ['::1:8080', '[::2]:8080', '127.0.0.1:8080'])
    assert.equal(isOwnHost(host, v6, v6rules), false, host);
});

test('bound to 0.0.0.0 or ::: the address the client connected to, never the wildcard itself', () => {
  const any4 = { listenHost: '0.0.0.0', allowedHosts: [] };
  assert.equal(isOwnHost('192.0.2.10:8080', { localAddress: '192.0.2.10', localPort: 8080 }, any4), true);
  assert.equal(isOwnHost('127.0.0.1:8080', { localAddress: '192.0.2.10', localPort: 8080 }, any4), false);
  assert.equal(isOwnHost('0.0.0.0:8080', { localAddress: '127.0.0.1', localPort: 8080 }, any4), false);
  const any6 = { listenHost: '::', allowedHosts: [] };
  // A dual-stack socket reports an IPv4 client's address IPv4-mapped.
  assert.equal(
    isOwnHost('127.0.0.1:8080', { localAddress: '::ffff:127.0.0.1', localPort: 8080 }, any6),
    true,
  );
  assert.equal(
    isOwnHost('[::ffff:127.0.0.1]:8080', { localAddress: '::ffff:127.0.0.1', localPort: 8080 }, any6),
    true,
  );
  assert.equal(isOwnHost('[2001:db8::5]:8080', { localAddress: '2001:db8::5', localPort: 8080 }, any6), true);
  assert.equal(isOwnHost('[::]:8080', { localAddress: '::1', localPort: 8080 }, any6), false);
});

test('a configured listen name and the allowed names count, case aside; other names do not', () => {
  const named = { listenHost: 'appliance.example.com', allowedHosts: ['Diag.Example.com'] };
  const connection = { localAddress: '192.0.2.10', localPort: 8080 };
  for (const host of [
    'appliance.example.com:8080',
    'APPLIANCE.example.com:8080',
    'diag.example.com:8080',
    '192.0.2.10:8080',
  ])
    assert.equal(isOwnHost(host, connection, named), true, host);
  for (const host of ['other.example.com:8080', 'diag.example.com:9090', 'example.com:8080'])
    assert.equal(isOwnHost(host, connection, named), false, host);
});

test('addresses in canonical form', () => {
  assert.equal(canonicalAddress('127.0.0.1'), '127.0.0.1');
  assert.equal(canonicalAddress('0:0:0:0:0:0:0:1'), '::1');
  assert.equal(canonicalAddress('2001:DB8:0::1'), '2001:db8::1');
  assert.equal(canonicalAddress('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(canonicalAddress('::ffff:c000:20a'), '192.0.2.10');
  assert.equal(canonicalAddress('localhost'), undefined);
  assert.equal(canonicalAddress('127.1'), undefined);
});
