import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { contentRange, contentRangeStart, parseByteRange } from './byte-range.js';

test('the forms a resuming client sends', () => {
  assert.deepEqual(parseByteRange('bytes=100-', 1000), { kind: 'partial', start: 100, end: 999 });
  assert.deepEqual(parseByteRange('bytes=0-', 1000), { kind: 'partial', start: 0, end: 999 });
  assert.deepEqual(parseByteRange('bytes=100-199', 1000), { kind: 'partial', start: 100, end: 199 });
  assert.deepEqual(parseByteRange('bytes=999-', 1000), { kind: 'partial', start: 999, end: 999 });
});

test('an end past the file is cut to the file; a suffix is the last bytes', () => {
  assert.deepEqual(parseByteRange('bytes=900-5000', 1000), { kind: 'partial', start: 900, end: 999 });
  assert.deepEqual(parseByteRange('bytes=-100', 1000), { kind: 'partial', start: 900, end: 999 });
  assert.deepEqual(parseByteRange('bytes=-5000', 1000), { kind: 'partial', start: 0, end: 999 });
});

test('a start at or past the end cannot be satisfied', () => {
  assert.deepEqual(parseByteRange('bytes=1000-', 1000), { kind: 'unsatisfiable' });
  assert.deepEqual(parseByteRange('bytes=0-', 0), { kind: 'unsatisfiable' });
  assert.deepEqual(parseByteRange('bytes=-0', 1000), { kind: 'unsatisfiable' });
  assert.equal(contentRange({ kind: 'unsatisfiable' }, 1000), 'bytes */1000');
});

test('no header, several ranges and nonsense mean the whole file', () => {
  for (const header of [undefined, 'bytes=0-1,5-6', 'items=0-5', 'bytes=5-3', 'bytes=-', 'bytes=a-', '']) {
    assert.deepEqual(parseByteRange(header, 1000), { kind: 'whole' }, String(header));
  }
});

test('Content-Range of an answer parses back to its start, for any satisfiable range', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.nat(), (size, raw) => {
      const start = raw % size;
      const answer = parseByteRange(`bytes=${start}-`, size);
      assert.deepEqual(answer, { kind: 'partial', start, end: size - 1 });
      assert.equal(contentRangeStart(contentRange(answer, size)), start);
    }),
  );
  assert.equal(contentRangeStart(undefined), undefined);
  assert.equal(contentRangeStart('bytes */10'), undefined);
});
