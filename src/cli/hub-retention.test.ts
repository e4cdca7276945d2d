import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNowOption } from './hub-retention.js';

const real = Date.UTC(2026, 5, 1, 12);

test('--now takes an ISO 8601 date or time, or a duration from the real time', () => {
  assert.equal(parseNowOption('2026-03-01T12:00:00Z', real), Date.UTC(2026, 2, 1, 12));
  assert.equal(parseNowOption('2026-03-01T12:00:00.250+02:00', real), Date.UTC(2026, 2, 1, 10, 0, 0, 250));
  assert.equal(parseNowOption('2026-03-01', real), Date.UTC(2026, 2, 1));
  assert.equal(parseNowOption('+4d', real), real + 4 * 86_400_000);
  assert.equal(parseNowOption('+61d12h', real), real + 61.5 * 86_400_000);
  assert.equal(parseNowOption('-1h', real), real - 3_600_000);
});

test('--now refuses anything else, naming the option and the forms', () => {
  for (const text of ['tomorrow', '4d', '+', '+4 days', '03/01/2026', '2026-13-45', '']) {
    assert.throws(() => parseNowOption(text, real), { message: /^--now: expected/ }, text);
  }
});
