import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RetentionRunSummary } from '../../hub/retention/index.js';
import { describeRemoved, parseNowOption } from './retention.js';

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

test('problem data: the files removed, and the unfinished uploads whose partial files went', () => {
  const summary: RetentionRunSummary = {
    ranAtMs: real,
    nowMs: real,
    actor: 'operator@cli',
    rules: { problemData: '3d', closedProblems: '60d', inventory: '5y', performance: '5y', heartbeats: '5y' },
    removed: {
      problemData: {
        files: 1,
        bytes: 300,
        attachmentIds: ['a'.repeat(32)],
        problemNumbers: ['P-000001'],
        unfinished: { uploads: 2, bytes: 16_777_216, attachmentIds: ['b'.repeat(32), 'c'.repeat(32)] },
      },
      closedProblems: { problems: 0, reports: 0, problemNumbers: [] },
      inventory: { reports: 0 },
      performance: { reports: 0 },
      heartbeats: { reports: 0 },
    },
    problemDataHandled: true,
  };
  assert.equal(
    describeRemoved('problemData', summary),
    `1 file(s), 300 bytes: ${'a'.repeat(32)}; the partial files of 2 upload(s) untouched for 3d, 16777216 bytes: ` +
      `${'b'.repeat(32)}, ${'c'.repeat(32)} (each starts over if its station comes back)`,
  );
  const none = { ...summary.removed.problemData, unfinished: { uploads: 0, bytes: 0, attachmentIds: [] } };
  assert.equal(
    describeRemoved('problemData', { ...summary, removed: { ...summary.removed, problemData: none } }),
    `1 file(s), 300 bytes: ${'a'.repeat(32)}`,
  );
});
