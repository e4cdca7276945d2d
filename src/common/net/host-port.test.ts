import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatHostPort, isLoopbackHost, parseHostPort } from './host-port.js';

test('parses IPv4 addresses and host names with a port', () => {
  const cases: [string, string, number][] = [
    ['127.0.0.1:8443', '127.0.0.1', 8443],
    ['0.0.0.0:443', '0.0.0.0', 443],
    ['10.1.2.3:1', '10.1.2.3', 1],
    ['localhost:8080', 'localhost', 8080],
    ['hub.example.com:443', 'hub.example.com', 443],
    ['127.0.0.1:0', '127.0.0.1', 0],
    ['127.0.0.1:65535', '127.0.0.1', 65535],
    ['127.0.0.1:00080', '127.0.0.1', 80],
    ['  127.0.0.1:8443 ', '127.0.0.1', 8443],
  ];
  for (const [text, host, port] of cases) assert.deepEqual(parseHostPort(text, 'x'), { host, port }, text);
});

test('parses IPv6 addresses in brackets', () => {
  const cases: [string, string, number][] = [
    ['[::1]:8443', '::1', 8443],
    ['[::]:443', '::', 443],
    ['[2001:db8::1]:22', '2001:db8::1', 22],
    ['[FE80::A:b]:80', 'FE80::A:b', 80],
    ['[::ffff:127.0.0.1]:22', '::ffff:127.0.0.1', 22],
  ];
  for (const [text, host, port] of cases) assert.deepEqual(parseHostPort(text, 'x'), { host, port }, text);
});

test('refuses bad forms, naming what was parsed and the input', () => {
  for (const text of [
    '',
    '127.0.0.1',
    '127.0.0.1:',
    ':8443',
    'localhost',
    '::1:8443',
    '::1',
    '[::1]',
    '[::1]8443',
    '[::1]:',
    '[localhost]:80',
    '[fe80::1%eth0]:22',
    '[[::1]]:80',
    '127.0.0.1:65536',
    '127.0.0.1:99999',
    '127.0.0.1:123456',
    '127.0.0.1:-1',
    '127.0.0.1:80x',
    '127.0.0.1:0x50',
    '127.0.0.1: 80',
    'ho st:80',
    'https://hub:443',
    'a:b:80',
  ]) {
    assert.throws(
      () => parseHostPort(text, '--listen'),
      {
        code: 'CONFIG_INVALID',
        message: `--listen: expected HOST:PORT such as 127.0.0.1:8443 or [::1]:8443, got ${JSON.stringify(text)}`,
      },
      JSON.stringify(text),
    );
  }
});

test('formats IPv6 in brackets and everything else as is', () => {
  assert.equal(formatHostPort({ host: '127.0.0.1', port: 8443 }), '127.0.0.1:8443');
  assert.equal(formatHostPort({ host: 'hub.example.com', port: 443 }), 'hub.example.com:443');
  assert.equal(formatHostPort({ host: '::1', port: 8443 }), '[::1]:8443');
  assert.equal(formatHostPort({ host: '2001:db8::1', port: 0 }), '[2001:db8::1]:0');
});

test('property: format then parse gives back host and port', () => {
  const ipv4 = fc.ipV4();
  const ipv6 = fc.ipV6().filter((host) => /^[0-9a-fA-F:.]+$/.test(host));
  const name = fc.domain();
  fc.assert(
    fc.property(fc.oneof(ipv4, ipv6, name), fc.integer({ min: 0, max: 65535 }), (host, port) => {
      assert.deepEqual(parseHostPort(formatHostPort({ host, port }), 'x'), { host, port });
    }),
    { numRuns: 2000, interruptAfterTimeLimit: 5000 },
  );
});

test('loopback: localhost, 127.0.0.0/8 and ::1 in any spelling; every other name or address is not', () => {
  for (const host of [
    'localhost',
    'LocalHost',
    '127.0.0.1',
    '127.255.0.9',
    '::1',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
  ])
    assert.equal(isLoopbackHost(host), true, host);
  for (const host of [
    '0.0.0.0',
    '::',
    '10.0.0.1',
    '192.168.1.5',
    '::ffff:10.0.0.1',
    'fe80::1',
    '128.0.0.1',
    '127.1',
    'localhost.',
    'localhost.example.com',
    'myhost',
    '',
  ])
    assert.equal(isLoopbackHost(host), false, host);
});
