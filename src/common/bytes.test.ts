import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes } from './bytes.js';

describe('formatBytes', () => {
  test('bytes, then binary units with one decimal under ten', () => {
    assert.equal(formatBytes(0), '0 bytes');
    assert.equal(formatBytes(1023), '1023 bytes');
    assert.equal(formatBytes(1024), '1 KiB');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(8 * 1024 * 1024), '8 MiB');
    assert.equal(formatBytes(20 * 1024 * 1024 - 4096), '20 MiB');
    assert.equal(formatBytes(3 * 1024 ** 4), '3 TiB');
  });
});
