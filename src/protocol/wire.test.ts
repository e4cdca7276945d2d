import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseTunnelSessionPath, technicianConnectPath, tunnelSessionPath } from './wire.js';

test('a service name is its own path segment', () => {
  assert.equal(tunnelSessionPath('ssh'), '/v1/services/ssh');
  assert.equal(parseTunnelSessionPath('/v1/services/ssh'), 'ssh');
  assert.equal(parseTunnelSessionPath('/v1/services/web-admin2'), 'web-admin2');
});

test('characters with a meaning in paths are encoded and decoded back', () => {
  for (const service of [
    'a/b',
    '../etc',
    'ssh?x=1',
    'ssh#f',
    '%41',
    'a b',
    'grüße',
    '日本',
    '😀',
    '.',
    '..',
  ]) {
    const path = tunnelSessionPath(service);
    assert.match(path, /^\/v1\/services\/[^/?#]+$/, service);
    assert.equal(parseTunnelSessionPath(path), service, service);
  }
  assert.equal(tunnelSessionPath('a/b?c#d'), '/v1/services/a%2Fb%3Fc%23d');
});

test('any non-empty service text survives the round trip', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }), (service) => {
      assert.equal(parseTunnelSessionPath(tunnelSessionPath(service)), service);
    }),
    { numRuns: 2000, interruptAfterTimeLimit: 3000 },
  );
});

test('other paths are not session paths', () => {
  for (const path of [
    '',
    '/',
    '/v1/services',
    '/v1/services/',
    tunnelSessionPath(''),
    '/v1/services/ssh/',
    '/v1/services/ssh/extra',
    '/v1/services/ssh?x=1',
    '/v1/services/ssh#frag',
    '/v1/services//ssh',
    '//v1/services/ssh',
    '/v2/services/ssh',
    '/V1/services/ssh',
    '/v1/Services/ssh',
    'v1/services/ssh',
    '/prefix/v1/services/ssh',
    'https://hub/v1/services/ssh',
    technicianConnectPath('ST-7KQ3-9XPM-4', 'ssh'),
  ]) {
    assert.equal(parseTunnelSessionPath(path), undefined, path);
  }
});

test('a path with a malformed percent escape is not a session path', () => {
  for (const path of ['/v1/services/%', '/v1/services/%zz', '/v1/services/%E0%A4%A']) {
    assert.equal(parseTunnelSessionPath(path), undefined, path);
  }
});

test('the technician connect path encodes the Station ID and the service', () => {
  assert.equal(
    technicianConnectPath('ST-7KQ3-9XPM-4', 'ssh'),
    '/v1/stations/ST-7KQ3-9XPM-4/connect?service=ssh',
  );
  assert.equal(technicianConnectPath('a/b', 'x&y=z'), '/v1/stations/a%2Fb/connect?service=x%26y%3Dz');
});
