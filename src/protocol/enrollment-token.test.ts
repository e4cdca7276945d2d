import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeEnrollmentToken, encodeEnrollmentToken, type EnrollmentToken } from './enrollment-token.js';

const sample: EnrollmentToken = {
  hub: 'hub.example.net:7443',
  caSha256: 'ab'.repeat(32),
  secret: 'Q2xlYXJseS1ub3QtYS1yZWFsLXNlY3JldC1fLTAxMjM',
};

const tokenArb: fc.Arbitrary<EnrollmentToken> = fc.record({
  // The schema counts UTF-16 code units, fast-check counts graphemes.
  hub: fc
    .string({ unit: 'grapheme', minLength: 3, maxLength: 80 })
    .filter((s) => s.length >= 3 && s.length <= 300),
  caSha256: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }),
  secret: fc.string({
    unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'),
    minLength: 43,
    maxLength: 43,
  }),
});

/** A token with any JSON payload, valid or not. */
function withPayload(payload: unknown): string {
  return 'LLE1.' + Buffer.from(JSON.stringify(payload)).toString('base64url');
}

test('the sample token has the documented shape', () => {
  const text = encodeEnrollmentToken(sample);
  assert.match(text, /^LLE1\.[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeEnrollmentToken(text), sample);
});

test('any token decodes to what was encoded, also with surrounding white space', () => {
  fc.assert(
    fc.property(tokenArb, fc.constantFrom('', ' ', '\n', '\t \r\n'), (token, space) => {
      const text = encodeEnrollmentToken(token);
      assert.match(text, /^LLE1\.[A-Za-z0-9_-]+$/);
      // fc.record builds objects without a prototype; compare own properties.
      assert.deepEqual(decodeEnrollmentToken(space + text + space), { ...token });
    }),
    { numRuns: 1000, interruptAfterTimeLimit: 3000 },
  );
});

test('a token with another prefix is refused, naming the prefix expected', () => {
  const body = encodeEnrollmentToken(sample).slice('LLE1.'.length);
  for (const text of ['', 'LLE1', `LLE2.${body}`, `lle1.${body}`, body, `x LLE1.${body}`]) {
    assert.throws(() => decodeEnrollmentToken(text), {
      code: 'ENROLL_TOKEN_INVALID',
      message: 'not a Lifeline enrollment token: expected it to start with LLE1.',
    });
  }
});

test('a token that is not base64url JSON is refused as damaged', () => {
  for (const text of [
    'LLE1.',
    'LLE1.!!!!',
    'LLE1.' + Buffer.from('{"hub":').toString('base64url'),
    'LLE1.' + Buffer.from([0xff, 0xfe, 0x00]).toString('base64url'),
  ]) {
    assert.throws(
      () => decodeEnrollmentToken(text),
      { code: 'ENROLL_TOKEN_INVALID', message: /damaged \(not base64url JSON\)/ },
      text,
    );
  }
});

test('a token with missing, extra or malformed fields is refused as damaged', () => {
  const { secret: _secret, ...noSecret } = sample;
  for (const payload of [
    null,
    1,
    'LLE1',
    [],
    {},
    noSecret,
    { ...sample, extra: true },
    { ...sample, hub: 'ab' },
    { ...sample, caSha256: 'AB'.repeat(32) },
    { ...sample, caSha256: 'ab'.repeat(31) },
    { ...sample, secret: sample.secret.slice(1) },
    { ...sample, secret: sample.secret.slice(1) + '=' },
  ]) {
    assert.throws(
      () => decodeEnrollmentToken(withPayload(payload)),
      { code: 'ENROLL_TOKEN_INVALID', message: /damaged \(fields missing or malformed\)/ },
      JSON.stringify(payload),
    );
  }
});

test('a token cut short anywhere is refused', () => {
  const text = encodeEnrollmentToken(sample);
  for (let length = 0; length < text.length; length++) {
    assert.throws(
      () => decodeEnrollmentToken(text.slice(0, length)),
      { code: 'ENROLL_TOKEN_INVALID' },
      `${length}`,
    );
  }
});

test('the error never repeats the secret', () => {
  const damaged = withPayload({ ...sample, hub: 'x' });
  const texts = [damaged, damaged.slice(0, -3), 'LLE2.' + damaged.slice(5)];
  for (const text of texts) {
    assert.throws(
      () => decodeEnrollmentToken(text),
      (err: Error) => !err.message.includes(sample.secret) && !err.message.includes(text.slice(5)),
    );
  }
});
