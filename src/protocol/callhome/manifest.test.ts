import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildManifest, checkManifest, decodeManifest, encodeManifest } from './manifest.js';

test('a manifest survives its header encoding and matches the body it describes', () => {
  const body = '{"id":"x","payload":{"note":"café"}}';
  const manifest = buildManifest(body, { kind: 'problem.update', id: 'x', contains: 'a note' });
  assert.equal(manifest.bytes, Buffer.byteLength(body));
  const decoded = decodeManifest(encodeManifest(manifest));
  assert.deepEqual(decoded, manifest);
  assert.equal(checkManifest(manifest, body), undefined);
  assert.equal(checkManifest(manifest, Buffer.from(body)), undefined);
});

test('a body that differs from its manifest by one byte is refused with a reason', () => {
  const body = Buffer.from('0123456789');
  const manifest = buildManifest(body, { kind: 'attachment.chunk', id: 'a', contains: 'chunk 0' });
  const changed = Buffer.from(body);
  changed[3] = 0x41;
  assert.match(checkManifest(manifest, changed) ?? '', /SHA-256/);
  assert.match(checkManifest(manifest, body.subarray(1)) ?? '', /10 bytes, 9 arrived/);
});

test('missing, malformed and wrongly shaped headers are refused with a reason', () => {
  assert.match(decodeManifest(undefined) as string, /missing/);
  assert.match(decodeManifest('%%%') as string, /not base64url JSON|invalid/);
  const wrong = Buffer.from(
    JSON.stringify({ kind: 'x', id: 'y', bytes: -1, sha256: 'z', contains: '' }),
  ).toString('base64url');
  assert.match(decodeManifest(wrong) as string, /bytes|sha256/);
  const extra = Buffer.from(
    JSON.stringify({ kind: 'x', id: 'y', bytes: 1, sha256: 'a'.repeat(64), contains: '', more: 1 }),
  ).toString('base64url');
  assert.match(decodeManifest(extra) as string, /invalid/);
});
