import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { formatStationId, generateStationId, parseStationId, stationIdAlphabet } from './station-id.js';

const payloadArb = fc.string({ unit: fc.constantFrom(...stationIdAlphabet), minLength: 8, maxLength: 8 });

test('a generated Station ID parses to itself', () => {
  for (let i = 0; i < 200; i++) {
    const id = generateStationId((n) => randomBytes(n));
    assert.match(id, /^ST-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]$/);
    assert.equal(parseStationId(id), id);
  }
});

test('parsing is case-insensitive and tolerates missing dashes and spaces', () => {
  const id = formatStationId('7KQ39XPM');
  const compact = id.replace(/-/g, '');
  for (const typed of [
    id,
    id.toLowerCase(),
    compact,
    compact.toLowerCase(),
    compact.slice(2),
    ` ${id} `,
    id.replace(/-/g, ' '),
  ]) {
    assert.equal(parseStationId(typed), id, typed);
  }
});

test('every single mistyped symbol is rejected', () => {
  fc.assert(
    fc.property(
      payloadArb,
      fc.nat(8),
      fc.constantFrom(...stationIdAlphabet),
      (payload, position, replacement) => {
        const id = formatStationId(payload).replace(/-/g, '').slice(2);
        fc.pre(id.charAt(position) !== replacement);
        const typo = id.slice(0, position) + replacement + id.slice(position + 1);
        assert.throws(() => parseStationId(typo), { code: 'STATION_ID_INVALID' });
      },
    ),
    { numRuns: 5000, interruptAfterTimeLimit: 5000 },
  );
});

test('malformed input names what is wrong', () => {
  assert.throws(() => parseStationId(''), { code: 'STATION_ID_INVALID', message: /expected ST-XXXX-XXXX-C/ });
  assert.throws(() => parseStationId('ST-7KQ3-9XPM'), { code: 'STATION_ID_INVALID' });
  assert.throws(() => parseStationId('ST-7KQ3-9XPO-4'), {
    code: 'STATION_ID_INVALID',
    message: /did you mean '0'/,
  });
  assert.throws(() => parseStationId('ST-7KQ3-9XPM-4X'), { code: 'STATION_ID_INVALID' });
});
