import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatDurationMs, parseDurationMs } from './duration.js';

test('parses each unit and combinations of them', () => {
  const cases: [string, number][] = [
    ['250ms', 250],
    ['1s', 1000],
    ['90s', 90_000],
    ['15m', 900_000],
    ['8h', 28_800_000],
    ['2d', 172_800_000],
    ['60d', 5_184_000_000],
    // A year is 365 days, whatever the calendar says.
    ['1y', 31_536_000_000],
    ['5y', 157_680_000_000],
    ['1y1d', 31_622_400_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['1d2h3m4s5ms', 93_784_005],
    // "ms" is tried before "m": 1ms is a millisecond, 1m a minute.
    ['1h1ms', 3_600_001],
    ['1m1s', 61_000],
    ['0s5ms', 5],
    ['007s', 7000],
    ['  10s  ', 10_000],
    ['\t30s\n', 30_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDurationMs(text), ms, text);
});

test('refuses what is not a positive duration, naming the input', () => {
  for (const text of [
    '',
    '   ',
    '90',
    's',
    'ms',
    '1.5h',
    '-1s',
    '+1s',
    '0s',
    '0ms',
    '0h0m',
    '10x',
    '10S',
    '1H',
    '1Y',
    '1yr',
    '10 s',
    '1h 30m',
    '1h,30m',
    'soon',
    '10s!',
    'P1D',
  ]) {
    assert.throws(
      () => parseDurationMs(text),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.equal((err as { code?: unknown }).code, 'CONFIG_INVALID');
        assert.ok(err.message.startsWith('duration: expected a duration such as'), err.message);
        assert.ok(err.message.endsWith(`got ${JSON.stringify(text)}`), err.message);
        return true;
      },
      JSON.stringify(text),
    );
  }
});

test('the error names what was being parsed', () => {
  assert.throws(() => parseDurationMs('soon', '--ttl'), {
    code: 'CONFIG_INVALID',
    message: '--ttl: expected a duration such as 90s, 15m, 8h or 1h30m, got "soon"',
  });
});

test('formats durations as people write them', () => {
  const cases: [number, string][] = [
    [0, '0ms'],
    [1, '1ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1499, '1s'],
    [1500, '2s'],
    [59_000, '59s'],
    [60_000, '1m'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [3_601_000, '1h1s'],
    [3_661_000, '1h1m1s'],
    [5_400_000, '1h30m'],
    // No days: hours keep counting.
    [86_400_000, '24h'],
    [2_592_000_000, '720h'],
  ];
  for (const [ms, text] of cases) assert.equal(formatDurationMs(ms), text, String(ms));
});

test('property: whole seconds and sub-second durations survive format then parse', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.integer({ min: 1, max: 999 }),
        fc.integer({ min: 1, max: 100_000_000 }).map((seconds) => seconds * 1000),
      ),
      (ms) => {
        assert.equal(parseDurationMs(formatDurationMs(ms)), ms);
      },
    ),
    { numRuns: 2000, interruptAfterTimeLimit: 5000 },
  );
});

test('property: any sequence of amounts and units parses to their sum', () => {
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  const units = Object.keys(unitMs) as (keyof typeof unitMs)[];
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom(...units)), {
        minLength: 1,
        maxLength: 6,
      }),
      (parts) => {
        const total = parts.reduce((sum, [amount, unit]) => sum + amount * unitMs[unit], 0);
        fc.pre(total > 0);
        assert.equal(parseDurationMs(parts.map(([amount, unit]) => `${amount}${unit}`).join('')), total);
      },
    ),
    { numRuns: 2000, interruptAfterTimeLimit: 5000 },
  );
});
