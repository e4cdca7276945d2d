import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  base32Decode,
  base32Encode,
  hotp,
  matchTotpStep,
  newTotpSecret,
  secretFromTotpUri,
  totpCode,
  totpStepAt,
  totpUri,
} from './totp.js';

test('HOTP gives the RFC 4226 appendix D values', () => {
  const key = Buffer.from('12345678901234567890');
  const expected = [
    '755224',
    '287082',
    '359152',
    '969429',
    '338314',
    '254676',
    '287922',
    '162583',
    '399871',
    '520489',
  ];
  assert.deepEqual(
    expected.map((_, counter) => hotp(key, counter)),
    expected,
  );
});

test('TOTP gives the RFC 6238 appendix B values (SHA-1, SHA-256, SHA-512; 8 digits)', () => {
  const keys = {
    sha1: Buffer.from('12345678901234567890'),
    sha256: Buffer.from('12345678901234567890123456789012'),
    sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
  };
  const vectors: [number, string, string, string][] = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ];
  for (const [seconds, sha1, sha256, sha512] of vectors) {
    const step = totpStepAt(seconds * 1000);
    assert.deepEqual(
      [
        hotp(keys.sha1, step, 8, 'sha1'),
        hotp(keys.sha256, step, 8, 'sha256'),
        hotp(keys.sha512, step, 8, 'sha512'),
      ],
      [sha1, sha256, sha512],
      `at T=${seconds}`,
    );
  }
  // The 6-digit code of the SHA-1 key is the last six digits of the 8-digit one.
  assert.equal(totpCode(base32Encode(keys.sha1), 59_000), '287082');
});

test('base32 round-trips and decodes as authenticator apps show secrets', () => {
  assert.equal(base32Encode(Buffer.from('12345678901234567890')), 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  assert.equal(base32Encode(Buffer.from('f')), 'MY');
  assert.equal(base32Encode(Buffer.from('foobar')), 'MZXW6YTBOI');
  assert.equal(base32Decode('mzxw 6ytb oi======').toString(), 'foobar');
  for (let i = 0; i < 50; i++) {
    const secret = newTotpSecret();
    assert.equal(secret.length, 32);
    assert.equal(base32Encode(base32Decode(secret)), secret);
  }
  assert.throws(() => base32Decode('ABC1'), RangeError);
});

test('a code matches its step and one step either side, not two', () => {
  const secret = newTotpSecret();
  const nowMs = Date.UTC(2026, 5, 1, 12, 0, 15);
  const step = totpStepAt(nowMs);
  assert.equal(matchTotpStep(secret, totpCode(secret, nowMs), nowMs), step);
  assert.equal(matchTotpStep(secret, totpCode(secret, nowMs - 30_000), nowMs), step - 1);
  assert.equal(matchTotpStep(secret, totpCode(secret, nowMs + 30_000), nowMs), step + 1);
  const far = totpCode(secret, nowMs - 60_000);
  // A code two steps away may by chance equal a nearby one; only assert when it does not.
  if (![-1, 0, 1].some((d) => totpCode(secret, nowMs + d * 30_000) === far))
    assert.equal(matchTotpStep(secret, far, nowMs), undefined);
  assert.equal(matchTotpStep(secret, '12345', nowMs), undefined);
  assert.equal(matchTotpStep(secret, '1234567', nowMs), undefined);
  assert.equal(matchTotpStep(secret, 'abcdef', nowMs), undefined);
});

test('the otpauth URI names issuer and account and carries the secret', () => {
  const secret = newTotpSecret();
  const uri = totpUri('ana@example', secret);
  assert.match(uri, /^otpauth:\/\/totp\/Lifeline:ana%40example\?/);
  const url = new URL(uri);
  assert.equal(url.searchParams.get('issuer'), 'Lifeline');
  assert.equal(url.searchParams.get('digits'), '6');
  assert.equal(url.searchParams.get('period'), '30');
  assert.equal(secretFromTotpUri(uri), secret);
});
