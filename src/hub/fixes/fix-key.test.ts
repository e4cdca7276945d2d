import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTicketKeyPair } from '../../pki/index.js';
import { hubPaths } from '../config.js';
import { ensureFixKey } from './fix-key.js';

function withDir(work: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-fix-key-'));
  try {
    work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a missing fix key is created once, private to its owner, and then kept', () => {
  withDir((dir) => {
    const paths = hubPaths(dir);
    const first = ensureFixKey(paths);
    const pem = readFileSync(paths.fixKey, 'utf8');
    assert.match(pem, /BEGIN PRIVATE KEY/);
    assert.equal(statSync(paths.fixKey).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir).sort(), ['fix-key.pem', 'fix-pub.pem']);
    assert.equal(readFileSync(paths.fixPublicKey, 'utf8'), first.publicKeyPem);
    assert.equal(ensureFixKey(paths).publicKeyPem, first.publicKeyPem);
    assert.equal(readFileSync(paths.fixKey, 'utf8'), pem);
  });
});

test('an existing fix key is used as it is, and its public key derived from it', () => {
  withDir((dir) => {
    const paths = hubPaths(dir);
    const pair = createTicketKeyPair();
    writeFileSync(paths.fixKey, pair.privateKeyPem, { mode: 0o600 });
    assert.equal(ensureFixKey(paths).publicKeyPem, pair.publicKeyPem);
    assert.equal(readFileSync(paths.fixKey, 'utf8'), pair.privateKeyPem);
  });
});
