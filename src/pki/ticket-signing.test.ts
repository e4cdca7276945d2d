import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { maxTicketLifetimeSeconds, ticketClaimsSchema, type TicketClaims } from '../protocol/index.js';
import {
  createTicketKeyPair,
  ticketAcceptedUntilMs,
  ticketClockToleranceSeconds,
  TicketSigner,
  TicketVerifier,
} from './index.js';

const stationId = 'ST-7KQ3-9XPM-4';
const iat = 1_750_000_000;
const keys = createTicketKeyPair();
const signer = new TicketSigner(keys.privateKeyPem);
const verifier = new TicketVerifier(keys.publicKeyPem);
const base64url = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function claims(overrides: Partial<TicketClaims> = {}): TicketClaims {
  return {
    iss: 'lifeline-hub',
    aud: stationId,
    sub: 'alice',
    name: 'Alice Example',
    groups: ['technicians'],
    svc: 'ssh',
    sid: '0123456789abcdef0123456789abcdef',
    jti: 'fedcba9876543210fedcba9876543210',
    iat,
    exp: iat + 30,
    amr: ['pwd', 'otp'],
    reason: 'case 4711',
    ...overrides,
  };
}

/** Seconds to the milliseconds the verifier takes. */
const at = (seconds: number): number => seconds * 1000;

function b64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

test('a valid ticket verifies and returns its claims', async () => {
  const token = await signer.sign(claims());
  const verified = await verifier.verify(token, stationId, at(iat + 1));
  assert.deepEqual(verified, claims());
  assert.deepEqual(ticketClaimsSchema.parse(verified), verified);
});

test('a ticket without the optional reason verifies', async () => {
  const { reason: _reason, ...rest } = claims();
  const token = await signer.sign(rest);
  assert.deepEqual(await verifier.verify(token, stationId, at(iat)), rest);
});

test('a ticket for another station is refused', async () => {
  const token = await signer.sign(claims({ aud: 'ST-0000-0000-0' }));
  await assert.rejects(verifier.verify(token, stationId, at(iat + 1)), {
    code: 'TICKET_WRONG_STATION',
    message: /ST-0000-0000-0/,
  });
});

test('an expired ticket is refused, after the 5 s clock tolerance', async () => {
  const token = await signer.sign(claims({ exp: iat + 30 }));
  // Still accepted just inside the tolerance...
  await verifier.verify(token, stationId, at(iat + 34));
  // ...and refused from exp + 5 s on.
  for (const nowS of [iat + 35, iat + 60, iat + 3600]) {
    await assert.rejects(verifier.verify(token, stationId, at(nowS)), { code: 'TICKET_EXPIRED' }, `${nowS}`);
  }
});

test('a ticket that lives longer than 60 s is refused', async () => {
  const atLimit = await signer.sign(claims({ exp: iat + maxTicketLifetimeSeconds }));
  await verifier.verify(atLimit, stationId, at(iat + 1));
  const tooLong = await signer.sign(claims({ exp: iat + maxTicketLifetimeSeconds + 1 }));
  await assert.rejects(verifier.verify(tooLong, stationId, at(iat + 1)), {
    code: 'TICKET_INVALID',
    message: /longer than 60 s/,
  });
});

test('a ticket whose exp is not after its iat is refused', async () => {
  for (const exp of [iat, iat - 1]) {
    const token = await signer.sign(claims({ exp }));
    // Inside the clock tolerance, so the lifetime check (not expiry) is what refuses it.
    await assert.rejects(
      verifier.verify(token, stationId, at(iat - 2)),
      { code: 'TICKET_INVALID' },
      `${exp}`,
    );
  }
});

test('a ticket issued in the future is refused before it starts', async () => {
  const token = await signer.sign(claims({ iat: iat + 3600, exp: iat + 3630 }));
  await assert.rejects(verifier.verify(token, stationId, at(iat)), { code: 'TICKET_INVALID' });
});

test('a ticket signed by another key is refused', async () => {
  const other = new TicketSigner(createTicketKeyPair().privateKeyPem);
  const token = await other.sign(claims());
  await assert.rejects(verifier.verify(token, stationId, at(iat + 1)), { code: 'TICKET_INVALID' });
});

test('a ticket with a changed payload is refused', async () => {
  const token = await signer.sign(claims());
  const [header, payload, signature] = token.split('.');
  assert.ok(header !== undefined && payload !== undefined && signature !== undefined);
  const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  for (const change of [
    { svc: 'https' },
    { aud: 'ST-0000-0000-0' },
    { exp: iat + 59 },
    { groups: ['admins'] },
  ]) {
    const forged = [header, b64urlJson({ ...decoded, ...change }), signature].join('.');
    await assert.rejects(
      verifier.verify(forged, stationId, at(iat + 1)),
      { code: 'TICKET_INVALID' },
      JSON.stringify(change),
    );
  }
});

test('an unsigned ticket (alg none) is refused', async () => {
  const token = await signer.sign(claims());
  const [, payload] = token.split('.');
  const unsigned = `${b64urlJson({ alg: 'none', typ: 'lifeline-ticket+jwt' })}.${payload ?? ''}.`;
  await assert.rejects(verifier.verify(unsigned, stationId, at(iat + 1)), { code: 'TICKET_INVALID' });
});

test('a JWT signed by the hub key but not typed as a ticket is refused', async () => {
  // Guards against another kind of token the hub might one day sign with the same key.
  const { iat: _iat, exp, ...rest } = claims();
  const token = await new SignJWT(rest)
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(createPrivateKey(keys.privateKeyPem));
  await assert.rejects(verifier.verify(token, stationId, at(iat + 1)), { code: 'TICKET_INVALID' });
});

test('a validly signed ticket with claims outside the schema is refused', async () => {
  const { iat: _iat, exp, ...rest } = claims();
  for (const extra of [{ admin: true }, { sid: 'not-hex' }, { amr: [] }, { iss: 'someone-else' }]) {
    const token = await new SignJWT({ ...rest, ...extra })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'lifeline-ticket+jwt' })
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(createPrivateKey(keys.privateKeyPem));
    await assert.rejects(
      verifier.verify(token, stationId, at(iat + 1)),
      { code: 'TICKET_INVALID' },
      JSON.stringify(extra),
    );
  }
});

test('the last character of the signature has 4 unused bits that the decoder ignores', async () => {
  // An Ed25519 signature is 64 bytes: 86 base64url characters carry 516 bits, so the last character
  // can take 4 values that decode to the same bytes. Such a token is the same ticket, byte for
  // byte; this is why replay protection keys on jti, never on the token text.
  const token = await signer.sign(claims());
  const last = token.at(-1) ?? '';
  const index = base64url.indexOf(last);
  const sibling = base64url.charAt(index ^ 1);
  const twin = token.slice(0, -1) + sibling;
  assert.notEqual(twin, token);
  assert.deepEqual(
    Buffer.from(twin.split('.')[2] ?? '', 'base64url'),
    Buffer.from(token.split('.')[2] ?? '', 'base64url'),
  );
  assert.deepEqual(await verifier.verify(twin, stationId, at(iat + 1)), claims());
});

test('changing any one character of a ticket makes it fail, unless the bytes stay the same', async () => {
  const token = await signer.sign(claims());
  const signatureBytes = (text: string): Buffer => Buffer.from(text.split('.')[2] ?? '', 'base64url');
  await fc.assert(
    fc.asyncProperty(
      fc.nat(token.length - 1),
      fc.oneof(
        fc.constantFrom(...base64url),
        fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
      ),
      async (position, replacement) => {
        fc.pre(token.charAt(position) !== replacement);
        const changed = token.slice(0, position) + replacement + token.slice(position + 1);
        const sameTicket =
          position === token.length - 1 && signatureBytes(changed).equals(signatureBytes(token));
        if (sameTicket) return;
        await assert.rejects(verifier.verify(changed, stationId, at(iat + 1)), { code: 'TICKET_INVALID' });
      },
    ),
    { numRuns: 2000, interruptAfterTimeLimit: 5000 },
  );
});

test('every character of a ticket matters except the unused bits of the last one', async () => {
  // Exhaustive over positions, one neighbouring base64url character each: complements the property.
  const token = await signer.sign(claims());
  for (let position = 0; position < token.length - 1; position++) {
    const original = token.charAt(position);
    const index = base64url.indexOf(original);
    const replacement = index < 0 ? 'A' : base64url.charAt(index ^ 1);
    const changed = token.slice(0, position) + replacement + token.slice(position + 1);
    await assert.rejects(
      verifier.verify(changed, stationId, at(iat + 1)),
      { code: 'TICKET_INVALID' },
      `position ${position}`,
    );
  }
});

test('a nonce is kept as long as its ticket can still be accepted (regression: replay just after expiry)', async () => {
  const ticketClaims = claims();
  const token = await signer.sign(ticketClaims);
  const lastAcceptedMs = (ticketClaims.exp + ticketClockToleranceSeconds) * 1000 - 1;
  await verifier.verify(token, stationId, lastAcceptedMs);
  assert.ok(ticketAcceptedUntilMs(ticketClaims) > lastAcceptedMs);
});
