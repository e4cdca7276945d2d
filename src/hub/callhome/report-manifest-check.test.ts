import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildManifest, encodeManifest } from '../../protocol/index.js';
import { manifestProblem } from './report-manifest-check.js';

const envelope = { id: 'a'.repeat(32), kind: 'problem.open' };
const body = JSON.stringify({ ...envelope, payload: { summary: 'Fan 3 failed' } });
const header = (text: string, fields: Partial<typeof envelope> = {}) =>
  encodeManifest(
    buildManifest(text, { ...envelope, ...fields, contains: 'problem.open PB-AAAAAA: Fan 3 failed' }),
  );

describe('manifestProblem', () => {
  test('a manifest of exactly these bytes, naming this report, passes', () => {
    assert.equal(manifestProblem(header(body), body, envelope), undefined);
  });

  test('a missing or malformed header is refused with the reason', () => {
    assert.match(manifestProblem(undefined, body, envelope) ?? '', /header is missing/);
    assert.match(manifestProblem('not base64 json', body, envelope) ?? '', /not base64url JSON|invalid/);
    assert.match(
      manifestProblem(Buffer.from('{"kind":"x"}').toString('base64url'), body, envelope) ?? '',
      /is invalid: /,
    );
  });

  test('bytes that differ from the manifest are refused: size, then SHA-256', () => {
    assert.match(manifestProblem(header(body), body + ' ', envelope) ?? '', /says \d+ bytes, \d+ arrived/);
    const sameSize = body.replace('Fan 3', 'Fan 4');
    assert.match(manifestProblem(header(body), sameSize, envelope) ?? '', /SHA-256/);
  });

  test('a manifest of another report is refused, even with the right bytes', () => {
    assert.match(
      manifestProblem(header(body, { id: 'b'.repeat(32) }), body, envelope) ?? '',
      /not this report/,
    );
    assert.match(
      manifestProblem(header(body, { kind: 'inventory' }), body, envelope) ?? '',
      /not this report/,
    );
  });
});
