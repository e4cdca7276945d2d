// Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA1, 30 s steps, 6 digits, one step
// of clock difference allowed either way. Secrets travel as base32 (RFC 4648) in otpauth:// URIs.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const totpStepSeconds = 30;
export const totpDigits = 6;
/** Steps accepted either side of the current one: phones and servers disagree by a few seconds. */
export const totpToleranceSteps = 1;
/** RFC 4226 recommends 160 bits, the size of an HMAC-SHA1 key block's natural use. */
export const totpSecretBytes = 20;

const base32Alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Encode(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += base32Alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += base32Alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** Decodes base32, ignoring case, spaces and '=' padding (as authenticator apps display them). */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of clean) {
    const index = base32Alphabet.indexOf(char);
    if (index < 0) throw new RangeError(`not base32: ${JSON.stringify(char)}`);
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function newTotpSecret(): string {
  return base32Encode(randomBytes(totpSecretBytes));
}

/** The time step of a moment (seconds since the epoch / 30). */
export function totpStepAt(nowMs: number): number {
  return Math.floor(nowMs / 1000 / totpStepSeconds);
}

/** RFC 4226 HOTP of one counter value; `algorithm` is there for the RFC 6238 test vectors. */
export function hotp(
  key: Uint8Array,
  counter: number,
  digits = totpDigits,
  algorithm: 'sha1' | 'sha256' | 'sha512' = 'sha1',
): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(message).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** The code a base32 secret gives at a moment. */
export function totpCode(secretBase32: string, nowMs: number): string {
  return hotp(base32Decode(secretBase32), totpStepAt(nowMs));
}

/**
 * The step a code matches within the tolerance, or undefined. The caller accepts it only if it is
 * later than the last step accepted for the user, so that a code logs in at most once.
 */
export function matchTotpStep(secretBase32: string, code: string, nowMs: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const key = base32Decode(secretBase32);
  const current = totpStepAt(nowMs);
  const given = Buffer.from(code);
  let matched: number | undefined;
  // Every candidate is computed and compared in constant time: the time taken says nothing.
  for (let step = current - totpToleranceSteps; step <= current + totpToleranceSteps; step++) {
    if (timingSafeEqual(Buffer.from(hotp(key, step)), given)) matched ??= step;
  }
  return matched;
}

/** The otpauth:// URI authenticator apps read (usually as a QR code). */
export function totpUri(account: string, secretBase32: string, issuer = 'Lifeline'): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const params = new URLSearchParams({
    secret: secretBase32,
    issuer,
    algorithm: 'SHA1',
    digits: String(totpDigits),
    period: String(totpStepSeconds),
  });
  return `otpauth://totp/${label}?${params.toString()}`;
}

/** The secret in an otpauth:// URI (the inverse of totpUri, for tests and tools). */
export function secretFromTotpUri(uri: string): string {
  const url = new URL(uri);
  const secret = url.searchParams.get('secret');
  if (url.protocol !== 'otpauth:' || !secret) throw new RangeError('not an otpauth:// URI with a secret');
  return secret;
}
